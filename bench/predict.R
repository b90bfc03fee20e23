# R predict() on batches of 1, 32 and 4096 vs. the raw runtime call timed in
# Python (onnxruntime's session.run, TensorFlow's signature call) on the same
# artifact and the same numbers, in one process. Throughput ratio =
# raw time / R time (target >= 0.9 at batch 4096). The raw call gets the
# input as a Python user holds it (a row-major float32 array; a tensor for
# TensorFlow), so R's conversions count against R. The small MLP's batch
# runs in ~0.1 ms, about what one call from R into Python costs; the medium
# MLP (batch 4096 only) shows the ratio once the model does some work.
# Usage: Rscript bench/predict.R <out.csv> [runs]
bench_dir <- normalizePath(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))))
source(file.path(bench_dir, "common.R"))
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

def round_trip_to(predictor, x):
    # What predict() must cross whatever it does: an R matrix into Python,
    # the artifact's output array back to R. No conversion to float32, no
    # runtime call.
    outputs = list(predictor.predict(x).values())[0]
    return lambda inputs: outputs
", convert = TRUE)
backend <- reticulate::import("keras")$backend$backend()
np <- reticulate::import("numpy", convert = FALSE)
work <- tempfile("kerasexport-bench-")
dir.create(work)
rows <- list()
cases <- list(small_mlp = c(1, 32, 4096), medium_mlp = 4096)
for (format in models$formats_for_backend(backend)) for (model_name in names(cases)) {
  model <- models$BUILDERS[[model_name]]()
  path <- models$artifact_path(work, format, model_name)
  suppressMessages(export_savedmodel(model, path, format = format, verbose = FALSE))
  artifact <- load_savedmodel(path)
  for (batch in cases[[model_name]]) {
    x <- matrix(runif(batch * 4), batch)
    numpy_x <- np$ascontiguousarray(x, dtype = "float32")
    repeats <- if (batch == 4096) 100L else 500L
    # Both sides: the mean over a loop of `repeats` calls.
    times <- take_turns(
      r = function() seconds(for (j in seq_len(repeats)) predict(artifact, x)) / repeats,
      raw = function() raw$raw_seconds(artifact$predictor, numpy_x, repeats)
    )
    r_value <- times[["r"]]
    raw_value <- times[["raw"]]
    if (batch == 4096) {
      # The ceiling for any R wrapper: the raw call plus a bare round trip
      # from R with the same input and output.
      round_trip <- raw$round_trip_to(artifact$predictor, numpy_x)
      crossing <- take_turns(
        round_trip = function() seconds(for (j in seq_len(repeats)) round_trip(x)) / repeats
      )[["round_trip"]]
      rows[[length(rows) + 1]] <- data.frame(
        benchmark = sprintf("ceiling for predict() from R: raw call + bare R-Python round trip, rows/s (batch %d)", batch),
        backend = backend, format = format, model = model_name,
        baseline = "raw runtime call in Python", baseline_value = signif(batch / raw_value, 4),
        value = signif(batch / (raw_value + crossing), 4),
        ratio = round(raw_value / (raw_value + crossing), 3), target = NA, met = NA
      )
    }
    rows[[length(rows) + 1]] <- data.frame(
      benchmark = sprintf("predict() from R, rows/s (batch %d)", batch), backend = backend,
      format = format, model = model_name, baseline = "raw runtime call in Python",
      baseline_value = signif(batch / raw_value, 4), value = signif(batch / max(r_value, 1e-6), 4),
      ratio = round(raw_value / max(r_value, 1e-6), 3), target = if (batch == 4096) 0.9 else NA,
      met = if (batch == 4096) raw_value / max(r_value, 1e-6) >= 0.9 else NA
    )
  }
}
write.csv(do.call(rbind, rows), out, row.names = FALSE)
