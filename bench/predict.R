# R predict() on batches of 1, 32 and 4096 vs. the raw runtime call timed in
# Python (onnxruntime's session.run, TensorFlow's signature call) on the same
# artifact and the same numbers, in one process. Throughput ratio =
# raw time / R time (target >= 0.9 at batch 4096).
# Usage: Rscript bench/predict.R <out.csv> [runs]
args <- commandArgs(TRUE)
out <- args[[1]]
runs <- if (length(args) >= 2) as.integer(args[[2]]) else 5L
bench_dir <- normalizePath(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))))
library(kerasexport)
models <- reticulate::import_from_path("models", path = bench_dir)
raw <- reticulate::py_run_string("
import time
def raw_seconds(artifact, x, repeats):
    predictor = artifact
    name = predictor.signature()['inputs'][0]['name']
    if predictor.format == 'onnx':
        call = lambda: predictor._session.run(None, {name: x})
    else:
        import tensorflow as tf
        function = predictor._loaded.signatures['serving_default']
        tensor = tf.constant(x)
        call = lambda: function(**{name: tensor})
    call()
    started = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - started) / repeats
", convert = TRUE)
backend <- reticulate::import("keras")$backend$backend()
model <- models$small_mlp()
work <- tempfile("kerasexport-bench-")
dir.create(work)
rows <- list()
for (format in models$formats_for_backend(backend)) {
  path <- models$artifact_path(work, format, "predict")
  suppressMessages(export_savedmodel(model, path, format = format, verbose = FALSE))
  artifact <- load_savedmodel(path)
  for (batch in c(1, 32, 4096)) {
    x <- matrix(runif(batch * 4), batch)
    numpy_x <- reticulate::np_array(x, dtype = "float32")
    repeats <- if (batch == 4096) 20L else 200L
    invisible(predict(artifact, x))
    # Both sides: the mean over a loop of `repeats` calls; median over runs.
    r_times <- vapply(seq_len(runs), function(i) {
      started <- Sys.time()
      for (j in seq_len(repeats)) predict(artifact, x)
      as.numeric(Sys.time() - started, units = "secs") / repeats
    }, 1)
    raw_times <- vapply(seq_len(runs), function(i) raw$raw_seconds(artifact$predictor, numpy_x, repeats), 1)
    r_value <- median(r_times)
    raw_value <- median(raw_times)
    rows[[length(rows) + 1]] <- data.frame(
      benchmark = sprintf("predict() from R, rows/s (batch %d)", batch), backend = backend,
      format = format, model = "small_mlp", baseline = "raw runtime call in Python",
      baseline_value = signif(batch / raw_value, 4), value = signif(batch / max(r_value, 1e-6), 4),
      ratio = round(raw_value / max(r_value, 1e-6), 3), target = if (batch == 4096) 0.9 else NA,
      met = if (batch == 4096) raw_value / max(r_value, 1e-6) >= 0.9 else NA
    )
  }
}
write.csv(do.call(rbind, rows), out, row.names = FALSE)
