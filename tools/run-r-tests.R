# Runs the testthat suite against the installed package, once per Keras
# backend, each in its own R process; prints one summary line per backend and
# a total line "N passed, N failed, N skipped"; exits non-zero on failure.
args <- commandArgs(trailingOnly = TRUE)
backends <- if (length(args)) args else c("tensorflow", "jax", "torch")
root <- normalizePath(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))), ".."))
totals <- c(passed = 0, failed = 0, skipped = 0)
for (backend in backends) {
  cat(sprintf("\n== testthat, KERAS_BACKEND=%s ==\n", backend))
  counts <- callr::r(
    function(dir) {
      results <- as.data.frame(testthat::test_dir(
        dir, package = "kerasexport", load_package = "installed",
        reporter = testthat::SummaryReporter$new(show_praise = FALSE),
        stop_on_failure = FALSE
      ))
      c(passed = sum(results$passed),
        failed = sum(results$failed) + sum(results$error),
        skipped = sum(results$skipped))
    },
    args = list(dir = file.path(root, "tests", "testthat")),
    env = c(callr::rcmd_safe_env(), KERAS_BACKEND = backend, NOT_CRAN = "true"),
    show = TRUE, stderr = "2>&1"
  )
  cat(sprintf("%s: %d passed, %d failed, %d skipped\n", backend,
              counts[["passed"]], counts[["failed"]], counts[["skipped"]]))
  totals <- totals + counts
}
cat(sprintf("\ntestthat: %d passed, %d failed, %d skipped\n",
            totals[["passed"]], totals[["failed"]], totals[["skipped"]]))
if (totals[["failed"]] > 0 || totals[["passed"]] == 0) quit(status = 1)
