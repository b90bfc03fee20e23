# write_deployment(), from R: the folders each target needs. Their contents
# are validated against Triton's and KServe's own definitions in
# inst/python/tests/test_deploy.py.

test_that("write_deployment() writes each target's folder and says how to run it", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  dir <- withr::local_tempdir()
  model <- small_model()
  onnx <- file.path(dir, "iris.onnx")
  saved <- file.path(dir, "iris")
  suppressMessages({
    export_savedmodel(model, onnx, format = "onnx", verbose = FALSE)
    export_savedmodel(model, saved, verbose = FALSE)
  })
  expect_message(out <- write_deployment(onnx, file.path(dir, "triton"), target = "triton"),
                 class = "kerasexport_deployment_written")
  expect_equal(out, file.path(dir, "triton"))
  expect_true(file.exists(file.path(dir, "triton", "iris", "config.pbtxt")))
  expect_true(file.exists(file.path(dir, "triton", "iris", "1", "model.onnx")))
  suppressMessages(write_deployment(saved, file.path(dir, "tfs"), target = "tf-serving", version = 2))
  expect_true(file.exists(file.path(dir, "tfs", "models", "iris", "2", "saved_model.pb")))
  expect_match(readLines(file.path(dir, "tfs", "Dockerfile"))[[1]], "^FROM tensorflow/serving:")
  suppressMessages(write_deployment(onnx, file.path(dir, "kserve"), target = "kserve",
                                    storage_uri = "s3://bucket/iris"))
  expect_true(any(grepl("s3://bucket/iris", readLines(file.path(dir, "kserve", "inferenceservice.yaml")))))
  # The folders' artifacts serve as they are.
  expect_equal(artifact_info(file.path(dir, "triton", "iris", "1", "model.onnx"))$format, "onnx")
})

test_that("write_deployment() refuses what a target cannot serve, and never replaces a user's folder", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  dir <- withr::local_tempdir()
  onnx <- file.path(dir, "iris.onnx")
  suppressMessages(export_savedmodel(small_model(), onnx, format = "onnx", verbose = FALSE))
  dir.create(file.path(dir, "mine"))
  writeLines("data", file.path(dir, "mine", "notes.txt"))
  before <- folder_contents(dir)
  expect_error(write_deployment(onnx, file.path(dir, "tfs"), target = "tf-serving"),
               class = "kerasexport_error_unsupported_combination")
  expect_error(write_deployment(onnx, file.path(dir, "mine"), target = "triton", overwrite = TRUE),
               class = "kerasexport_error_artifact")
  expect_error(write_deployment(onnx, file.path(dir, "x"), target = "docker"),
               class = "kerasexport_error_argument")
  expect_error(write_deployment(onnx, file.path(dir, "x"), target = "triton", version = 0),
               class = "kerasexport_error_argument")
  expect_error(write_deployment(file.path(dir, "nope.onnx"), file.path(dir, "x"), target = "triton"),
               class = "kerasexport_error_artifact")
  expect_equal(folder_contents(dir), before)
})
