# Every format kerasexport knows, from R, on this backend: exported (directly
# or through a backend that writes it), verified in a fresh process, described,
# loaded and predicted from R against the model; and served, once per format.
# bench/ and inst/python/tests/test_format_matrix.py cover more model shapes.

format_files <- c(tf_saved_model = "model", onnx = "model.onnx", litert = "model.tflite",
                  openvino = "model.xml", torch = "model.pt2")

test_that("every format round-trips from R on this backend", {
  skip_if_no_python()
  model <- small_model()
  x <- as.matrix(iris[1:7, 1:4])
  want <- reticulate::py_to_r(keras()$ops$convert_to_numpy(model(x)))
  dir <- withr::local_tempdir()
  for (format in names(format_files)) {
    path <- file.path(dir, format_files[[format]])
    suppressMessages(export_savedmodel(model, path, format = format, verbose = FALSE))
    check <- suppressMessages(verify_artifact(path, model, data = x))
    expect_true(check$passed, label = format)
    info <- artifact_info(path)
    expect_equal(info$format, format)
    expect_gt(info$size_bytes, 0)
    got <- predict(load_savedmodel(path), x)
    expect_equal(unname(got), want, tolerance = 1e-5, ignore_attr = TRUE, label = format)
  }
})

test_that("a path without the format's ending is an argument error before anything runs", {
  skip_if_no_python()
  dir <- withr::local_tempdir()
  for (case in list(c("onnx", "m"), c("openvino", "m_openvino"), c("litert", "m.lite"),
                    c("torch", "m.pt"))) {
    error <- expect_error(export_savedmodel(small_model(), file.path(dir, case[[2]]), format = case[[1]]),
                          class = "kerasexport_error_argument")
    expect_match(conditionMessage(error), "ending")
  }
  expect_equal(folder_contents(dir), character())
})

test_that("a layer written in R cannot cross backends: a classed error that names who can", {
  skip_if_no_keras3()
  skip_if_no_python()
  skip_unless_backend("torch")
  layer_scale <- keras3::Layer("ScaleByTwo", call = function(inputs) inputs * 2 + 1)
  model <- keras3::keras_model_sequential(input_shape = 4) |> layer_scale() |> keras3::layer_dense(3)
  dir <- withr::local_tempdir()
  error <- expect_error(suppressMessages(export_savedmodel(model, file.path(dir, "m"))),
                        class = "kerasexport_error_unsupported_combination")
  expect_match(conditionMessage(error), "tensorflow")
  expect_equal(error$alternative, "onnx")
  expect_no_match(conditionMessage(error), "kerasexport-", fixed = TRUE) # never the staging folder
  expect_equal(folder_contents(dir), character())
})

test_that("every format is served over the TF-Serving API", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  model <- small_model()
  x <- as.matrix(iris[1:3, 1:4])
  want <- reticulate::py_to_r(keras()$ops$convert_to_numpy(model(x)))
  dir <- withr::local_tempdir()
  for (format in setdiff(names(format_files), "tf_saved_model")) {
    base <- file.path(dir, format)
    suppressMessages(export_savedmodel(model, base, format = format, version = 1, verbose = FALSE))
    server <- serve_savedmodel(base, port = free_port())
    answer <- predict_savedmodel(x, server)
    server$stop()
    expect_equal(do.call(rbind, answer$predictions), want, tolerance = 1e-5, ignore_attr = TRUE,
                 label = format)
  }
})
