test_that("verify_artifact() reports per-output differences", {
  skip_if_no_python()
  model <- small_model()
  path <- file.path(withr::local_tempdir(), "model.onnx")
  suppressMessages(export_savedmodel(model, path, format = "onnx", verbose = FALSE))
  check <- suppressMessages(verify_artifact(path, model, data = as.matrix(iris[, 1:4])))
  expect_s3_class(check, "kerasexport_verification")
  expect_equal(nrow(check$outputs), 1)
  expect_equal(check$outputs$shape, "(150, 3)")
  expect_output(print(check), "passed")
})

test_that("an artifact of another model is a mismatch error with numbers", {
  skip_if_no_python()
  path <- file.path(withr::local_tempdir(), "model.onnx")
  suppressMessages(export_savedmodel(small_model(seed = 1L), path, format = "onnx", verbose = FALSE))
  error <- expect_error(
    suppressMessages(verify_artifact(path, small_model(seed = 2L))),
    class = "kerasexport_error_mismatch"
  )
  expect_gt(error$max_abs_diff, 1e-5)
  expect_match(conditionMessage(error), "max abs diff")
})

test_that("verify_artifact() checks its arguments", {
  expect_error(verify_artifact(file.path(tempdir(), "nope.onnx"), NULL),
               class = "kerasexport_error_artifact")
  dir <- withr::local_tempdir()
  expect_error(verify_artifact(dir, NULL), regexp = "Keras 3 model", class = "kerasexport_error_invalid_model")
  expect_error(verify_artifact(dir, NULL, format = "onnx", tolerance = -1),
               class = "kerasexport_error_invalid_model")
})
