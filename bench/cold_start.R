# Cold start, the R side: a fresh Rscript that loads kerasexport, builds the
# model and exports it; reports the heavy modules imported and peak memory.
# Usage: Rscript bench/cold_start.R <model> <format> <path>
args <- commandArgs(TRUE)
bench_dir <- normalizePath(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))))
library(kerasexport)
models <- reticulate::import_from_path("models", path = bench_dir)
model <- models$BUILDERS[[args[[1]]]]()
models$call_once(model) # as after training, the same as the Python side
suppressMessages(export_savedmodel(model, args[[3]], format = args[[2]], verbose = FALSE))
sys <- reticulate::import("sys", convert = FALSE)
modules <- names(reticulate::py_to_r(sys$modules))
heavy <- sort(intersect(unique(sub("\\..*$", "", modules)),
                        c("tensorflow", "jax", "torch", "tf2onnx", "jax2onnx")))
resource <- reticulate::import("resource")
cat(jsonlite::toJSON(list(modules = heavy,
                          max_rss_kb = resource$getrusage(resource$RUSAGE_SELF)$ru_maxrss),
                     auto_unbox = TRUE), "\n")
