# Wrapper overhead and artifact size, for one backend (KERAS_BACKEND), in one
# R process: export_savedmodel() from R vs model.export() timed inside Python
# on the same model, median of RUNS runs (4 x RUNS for the small model) after
# a warm-up of each. An "R floor" row times model.export() called from R
# through reticulate: what calling Python from R costs before kerasexport
# does anything.
# Usage: Rscript bench/overhead.R <out.csv> [runs] [models]
bench_dir <- normalizePath(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))))
source(file.path(bench_dir, "common.R"))
model_names <- if (length(args) >= 3) strsplit(args[[3]], ",")[[1]] else c("small_mlp", "large_mlp")

library(kerasexport)
models <- reticulate::import_from_path("models", path = bench_dir)
time_py <- reticulate::py_run_string("
import time
def timed_export(model, path, format):
    started = time.perf_counter()
    model.export(path, format=format, verbose=False)
    return time.perf_counter() - started
", convert = TRUE)
backend <- reticulate::import("keras")$backend$backend()
work <- tempfile("kerasexport-bench-")
dir.create(work)
on.exit(unlink(work, recursive = TRUE), add = TRUE)

rows <- list()
# An artifact's files: a SavedModel folder's, or an ONNX file and the
# `.data` file of its external weights, if any.
artifact_files <- function(path) {
  if (dir.exists(path)) list.files(path, recursive = TRUE, full.names = TRUE)
  else c(path, paste0(path, ".data"))
}
size_on_disk <- function(path) sum(file.size(artifact_files(path)), na.rm = TRUE)
remove_artifact <- function(path) unlink(c(path, paste0(path, ".data")), recursive = TRUE)
for (model_name in model_names) {
  model <- models$BUILDERS[[model_name]]()
  model$predict(reticulate::np_array(matrix(0, 1, model$inputs[[1]]$shape[[2]]), dtype = "float32"), verbose = 0L)
  formats <- models$formats_for_backend(backend)
  # The 50 M-parameter model in every format but TensorFlow's ONNX: tf2onnx
  # on it takes minutes and ~10 GB.
  if (model_name == "large_mlp" && backend == "tensorflow") formats <- "tf_saved_model"
  for (format in formats) {
    direct_path <- models$artifact_path(work, format, "direct")
    ours_path <- models$artifact_path(work, format, "kerasexport")
    plain_path <- models$artifact_path(work, format, "plain")
    floor_path <- models$artifact_path(work, format, "floor")
    # Each starts from an empty destination: removing the last artifact is
    # timed for neither.
    # Like for like: the weights where Keras' own export puts them (beside
    # the graph for JAX ONNX with large tensors, inside it otherwise).
    keras_layout <- if (format == "onnx") {
      remove_artifact(direct_path)
      time_py$timed_export(model, direct_path, format)
      file.exists(paste0(direct_path, ".data"))
    }
    # A small model's export takes 15-200 ms and moves by +-30% from one
    # call to the next here: it gets four times the runs.
    times <- take_turns(
      times = if (model_name == "large_mlp") runs else 4 * runs,
      direct = function() {
        remove_artifact(direct_path)
        time_py$timed_export(model, direct_path, format)
      },
      # The least any R function can cost: Keras' own export called from R
      # through reticulate, timed in R.
      r_floor = function() {
        remove_artifact(floor_path)
        seconds(model$export(floor_path, format = format, verbose = FALSE))
      },
      wrapper = function() {
        remove_artifact(ours_path)
        seconds(suppressMessages(export_savedmodel(model, ours_path, format = format,
                                                   verbose = FALSE)))
      },
      like_for_like = function() {
        remove_artifact(plain_path)
        seconds(suppressMessages(export_savedmodel(model, plain_path, format = format,
                                                   verbose = FALSE, model_names = FALSE,
                                                   scrub = FALSE, external_data = keras_layout)))
      }
    )
    direct <- times[["direct"]]
    wrapper <- times[["wrapper"]]
    like_for_like <- times[["like_for_like"]]
    weights <- models$weight_bytes(model)
    add <- function(benchmark, baseline, baseline_value, value, target) {
      rows[[length(rows) + 1]] <<- data.frame(
        benchmark = benchmark, backend = backend, format = format, model = model_name,
        baseline = baseline, baseline_value = signif(baseline_value, 4),
        value = signif(value, 4), ratio = round(value / baseline_value, 3), target = target,
        met = value / baseline_value <= target
      )
    }
    add("R floor for the rows below: model.export() called from R through reticulate, export time, s",
        "model.export() in Python", direct, times[["r_floor"]], NA)
    add("export time, s (defaults)", "model.export() in Python", direct, wrapper, 1.02)
    add(sprintf("export time, s (model_names = FALSE, scrub = FALSE%s)",
                if (isTRUE(keras_layout)) ", external_data = TRUE" else ""),
        "model.export() in Python", direct, like_for_like, 1.02)
    add("artifact size, bytes", "raw weight bytes", weights, size_on_disk(ours_path), 1.05)
  }
}
write.csv(do.call(rbind, rows), out, row.names = FALSE)
