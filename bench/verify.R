# verify_artifact() from R vs. the check a careful user writes by hand in
# Python (bench/verify_by_hand.py: the model's predictions, the artifact run
# in a fresh Python process, the numbers compared), on the same artifact, in
# one R process, taking turns; median over runs after a warm-up.
# Usage: Rscript bench/verify.R <out.csv> [runs]
bench_dir <- normalizePath(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))))
source(file.path(bench_dir, "common.R"))
library(kerasexport)
models <- reticulate::import_from_path("models", path = bench_dir)
by_hand <- reticulate::import_from_path("verify_by_hand", path = bench_dir)
backend <- reticulate::import("keras")$backend$backend()
model <- models$small_mlp()
models$call_once(model)
work <- tempfile("kerasexport-bench-")
dir.create(work)
rows <- list()
for (format in models$formats_for_backend(backend)) {
  path <- models$artifact_path(work, format, "verified")
  suppressMessages(export_savedmodel(model, path, format = format, verbose = FALSE))
  times <- take_turns(
    r = function() seconds(suppressMessages(verify_artifact(path, model))),
    by_hand = function() by_hand$seconds(model, path, format)
  )
  r_value <- times[["r"]]
  baseline <- times[["by_hand"]]
  rows[[length(rows) + 1]] <- data.frame(
    benchmark = "verify_artifact(), s", backend = backend, format = format, model = "small_mlp",
    baseline = "the same check by hand in Python", baseline_value = signif(baseline, 4),
    value = signif(r_value, 4), ratio = round(r_value / baseline, 3), target = NA, met = NA
  )
}
write.csv(do.call(rbind, rows), out, row.names = FALSE)
