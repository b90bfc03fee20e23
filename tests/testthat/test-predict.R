test_that("load_savedmodel() + predict() reproduce the model for every format", {
  skip_if_no_python()
  model <- small_model()
  x <- as.matrix(iris[1:10, 1:4])
  want <- reticulate::py_to_r(keras()$ops$convert_to_numpy(model(x)))
  dir <- withr::local_tempdir()
  for (format in backend_formats()) {
    path <- artifact_path(dir, format)
    suppressMessages(export_savedmodel(model, path, format = format, verbose = FALSE))
    artifact <- suppressMessages(load_savedmodel(path))
    expect_s3_class(artifact, "kerasexport_loaded_artifact")
    expect_output(print(artifact), "input  features")
    expect_equal(predict(artifact, x), want, tolerance = 1e-5, ignore_attr = TRUE)
    expect_equal(predict(artifact, iris[1:10, 1:4]), want, tolerance = 1e-5, ignore_attr = TRUE)
    expect_equal(predict(artifact, x, batch_size = 3), want, tolerance = 1e-5, ignore_attr = TRUE)
  }
})

test_that("several inputs match by name or position; several outputs come back named", {
  skip_if_no_python()
  model <- model_multi_input()
  sepal <- matrix(runif(6), 3)
  petal <- matrix(runif(6), 3)
  dir <- withr::local_tempdir()
  format <- backend_formats()[[1]]
  path <- artifact_path(dir, format)
  suppressMessages(export_savedmodel(model, path, format = format, verbose = FALSE))
  artifact <- suppressMessages(load_savedmodel(path))
  by_name <- predict(artifact, list(petal = petal, sepal = sepal))
  by_position <- predict(artifact, list(sepal, petal))
  expect_named(by_name, c("species", "size"), ignore.order = TRUE)
  expect_equal(by_name$species, by_position$species)
  want <- model(list(sepal, petal))
  expect_equal(by_name$species, reticulate::py_to_r(keras()$ops$convert_to_numpy(want[[1]])),
               tolerance = 1e-5, ignore_attr = TRUE)
  expect_error(predict(artifact, list(sepal = sepal)), class = "kerasexport_error_predict_input")
  expect_error(predict(artifact, list(sepal, matrix(1, 3, 5))), regexp = "axis 1",
               class = "kerasexport_error_predict_input")
  expect_error(predict(artifact, list(sepal = "a", petal = petal)), class = "kerasexport_error_predict_input")
})

test_that("predict_savedmodel() takes tfdeploy's calling convention", {
  skip_if_no_python()
  model <- small_model()
  path <- file.path(withr::local_tempdir(), "model.onnx")
  suppressMessages(export_savedmodel(model, path, format = "onnx", verbose = FALSE))
  from_path <- suppressMessages(predict_savedmodel(iris[1:2, 1:4], path))
  expect_s3_class(from_path, "savedmodel_predictions")
  expect_length(from_path$predictions, 2)
  # As tfdeploy returned: per instance, a list named by the model's outputs.
  output <- artifact_info(path)$endpoints[[1]]$outputs[[1]]$name
  expect_named(from_path$predictions[[1]], output)
  want <- reticulate::py_to_r(keras()$ops$convert_to_numpy(model(as.matrix(iris[1:2, 1:4]))))
  expect_equal(from_path$predictions[[2]][[output]], want[2, ], tolerance = 1e-5)
  expect_output(print(from_path), "Prediction 2:")
  rows <- list(c(5.1, 3.5, 1.4, 0.2), c(4.9, 3.0, 1.4, 0.2))
  from_rows <- suppressMessages(predict_savedmodel(rows, load_savedmodel(path)))
  expect_equal(from_rows$predictions, from_path$predictions, tolerance = 1e-6)
})
