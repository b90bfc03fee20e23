# The floor under cold_start.R: the same fresh Rscript, the same model and
# export, without kerasexport: reticulate (with the Matrix package it loads)
# and Keras' model.export() called directly. What cold_start.R takes beyond
# this is what kerasexport itself costs.
# Usage: Rscript bench/cold_start_floor.R <model> <format> <path>
args <- commandArgs(TRUE)
bench_dir <- normalizePath(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))))
reticulate::use_virtualenv(Sys.getenv("KERASEXPORT_PYTHON", "r-kerasexport"), required = TRUE)
models <- reticulate::import_from_path("models", path = bench_dir)
model <- models$BUILDERS[[args[[1]]]]()
models$call_once(model)
model$export(args[[3]], format = args[[2]], verbose = FALSE)
resource <- reticulate::import("resource")
cat(jsonlite::toJSON(list(max_rss_kb = resource$getrusage(resource$RUSAGE_SELF)$ru_maxrss),
                     auto_unbox = TRUE), "\n")
