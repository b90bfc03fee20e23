# A tfdeploy user's script, run by a fresh Rscript after changing only
# library(tfdeploy) to library(kerasexport): export, predict from the
# artifact and from a loaded graph, serve with daemonized = TRUE and predict
# over tfdeploy's web API on tfdeploy's port.

port_in_use <- function(port) {
  connection <- tryCatch(
    suppressWarnings(socketConnection("127.0.0.1", port, open = "r+", timeout = 1)),
    error = function(e) NULL
  )
  if (is.null(connection)) return(FALSE)
  close(connection)
  TRUE
}

test_that("a tfdeploy script runs with only library() changed", {
  skip_in_second_load_order()
  skip_if_no_keras3()
  skip_if_no_python()
  skip_if(port_in_use(8089), "port 8089 (tfdeploy's) is in use")
  dir <- withr::local_tempdir()
  script <- readLines(test_path("fixtures", "tfdeploy-script.R"))
  changed <- sub("^library\\(tfdeploy\\)$", "library(kerasexport)", script)
  expect_equal(sum(changed != script), 1)
  writeLines(changed, file.path(dir, "script.R"))
  run <- processx::run(file.path(R.home("bin"), "Rscript"), "script.R", wd = dir,
                       error_on_status = FALSE, env = c("current", KERAS_BACKEND = test_backend()))
  expect_equal(run$status, 0L, info = paste(run$stdout, run$stderr))
  results <- readRDS(file.path(dir, "results.rds"))
  # tfdeploy's result: per instance, the outputs by name.
  expect_named(results$local$predictions[[1]], "prediction")
  expect_equal(results$local$predictions[[1]]$prediction, results$preds[1, ], tolerance = 1e-5)
  expect_equal(results$from_graph$predictions[[1]]$prediction, results$preds[2, ], tolerance = 1e-5)
  expect_length(results$remote$predictions, 2)
  expect_equal(results$remote$predictions[[2]]$prediction, results$preds[4, ], tolerance = 1e-5)
  expect_match(run$stdout, "Prediction", fixed = TRUE)
  expect_false(port_in_use(8089)) # the server went with the script's R session
})
