# Runs the testthat suite against the installed package, once per Keras
# backend (each in its own R process: KERAS_BACKEND is fixed when Keras is
# first imported) and, when the R package keras3 is installed, in each load
# order: keras3 attached before kerasexport, and after it, as users do.
#
# What each run can catch decides what it runs. The whole suite runs once
# per backend, with keras3 attached first. Only which method
# export_savedmodel() dispatches to, and what the packages say when they
# load, depend on the order in which they were attached: the second order
# runs the files that test that (ORDER_FILES), on every backend.
# Prints one summary line per run and a total line
# "N passed, N failed, N skipped"; exits non-zero on failure.
#
#   Rscript tools/run-r-tests.R [backend ...] [--order=before|after|none]
#   (with --order, that order runs the whole suite)
args <- commandArgs(trailingOnly = TRUE)
order_arg <- sub("^--order=", "", grep("^--order=", args, value = TRUE))
args <- grep("^--order=", args, value = TRUE, invert = TRUE)
backends <- if (length(args)) args else c("tensorflow", "jax", "torch")
has_keras3 <- nzchar(system.file(package = "keras3"))
orders <- if (length(order_arg)) order_arg else if (has_keras3) c("before", "after") else "none"
root <- normalizePath(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))), ".."))
ORDER_FILES <- "registration|keras3"
totals <- c(passed = 0, failed = 0, skipped = 0)
for (backend in backends) {
  for (order in orders) {
    filter <- if (length(order_arg) == 0 && order == "after") ORDER_FILES else NULL
    label <- sprintf("KERAS_BACKEND=%s, keras3 %s%s", backend,
                     switch(order, before = "attached before kerasexport",
                            after = "attached after kerasexport", none = "not loaded"),
                     if (is.null(filter)) "" else sprintf(" (test files matching '%s')", filter))
    cat(sprintf("\n== testthat, %s ==\n", label))
    started <- Sys.time()
    counts <- callr::r(
      function(dir, order, filter) {
        # "after": tests/testthat/helper-kerasexport.R attaches keras3 once
        # kerasexport is attached.
        if (order == "before") library(keras3)
        results <- as.data.frame(testthat::test_dir(
          dir, package = "kerasexport", load_package = "installed", filter = filter,
          reporter = testthat::SummaryReporter$new(show_praise = FALSE),
          stop_on_failure = FALSE
        ))
        slow <- utils::head(results[order(-results$real), ], 8)
        cat("slowest tests (s):", paste0(slow$file, ": ", substr(slow$test, 1, 40), " ",
                                         round(slow$real), collapse = "; "), "\n")
        cat(sprintf("all tests: %.0f s\n", sum(results$real)))
        c(passed = sum(results$passed),
          failed = sum(results$failed) + sum(results$error),
          skipped = sum(results$skipped))
      },
      args = list(dir = file.path(root, "tests", "testthat"), order = order, filter = filter),
      env = c(callr::rcmd_safe_env(), KERAS_BACKEND = backend, NOT_CRAN = "true",
              KERASEXPORT_TEST_KERAS3 = order),
      show = TRUE, stderr = "2>&1"
    )
    cat(sprintf("%s: %d passed, %d failed, %d skipped (%.0f s)\n", label,
                counts[["passed"]], counts[["failed"]], counts[["skipped"]],
                as.numeric(Sys.time() - started, units = "secs")))
    totals <- totals + counts
  }
}
cat(sprintf("\ntestthat: %d passed, %d failed, %d skipped\n",
            totals[["passed"]], totals[["failed"]], totals[["skipped"]]))
if (totals[["failed"]] > 0 || totals[["passed"]] == 0) quit(status = 1)
