# What users read when they get something wrong: snapshots of the messages,
# one per kind of mistake (the temporary folder redacted). Each names the
# argument, says what was wrong and what to do.

redact <- function(lines) {
  lines <- gsub(normalizePath(tempdir(), mustWork = FALSE), "<tempdir>", lines, fixed = TRUE)
  lines <- gsub(tempdir(), "<tempdir>", lines, fixed = TRUE)
  gsub("<tempdir>/[A-Za-z0-9_]+", "<tempdir>/<dir>", lines)
}

test_that("argument errors say what was wrong and what to do", {
  skip_unless_backend("tensorflow")
  expect_snapshot(error = TRUE, {
    input_spec(c(NA, 0))
    input_spec("784")
    install_kerasexport(backend = "theano")
    install_kerasexport(gpu = "yes")
    serve_savedmodel(tempdir(), port = 70000)
    serve_savedmodel(tempdir(), port = 8501.5)
    serve_savedmodel(tempdir(), timeout = "10")
    serve_savedmodel(tempdir(), daemonized = TRUE, block = TRUE)
    predict_savedmodel(list(c(1, 2, 3, 4), c(1, 2)), tempdir())
    predict_savedmodel(matrix(1, 1, 4), "http://127.0.0.1:9/")
    export_savedmodel(list(), "model")
    export_savedmodel(42, "model")
  }, transform = redact)
})

test_that("errors from the Python side read as R errors", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  dir <- withr::local_tempdir()
  model <- small_model()
  suppressMessages(export_savedmodel(model, file.path(dir, "m.onnx"), format = "onnx", verbose = FALSE))
  writeLines("notes", file.path(dir, "notes.txt"))
  expect_snapshot(error = TRUE, {
    export_savedmodel(model, file.path(dir, "m.onnx"), format = "onnx")
    export_savedmodel(model, file.path(dir, "notes.txt"), format = "onnx", overwrite = TRUE)
    export_savedmodel(model, file.path(dir, "x"), format = "pickle")
    export_savedmodel(model, file.path(dir, "x"), opset_version = 17)
    export_savedmodel(model, file.path(dir, "x"), input_signature = c(NA, Inf))
    export_savedmodel(model, file.path(dir, "x"), input_signature = c(NA, 4, 1))
    export_savedmodel(model, file.path(dir, "x.onnx"), format = "onnx",
                      input_signature = input_spec(c(NA, 4), dtype = "string"))
    verify_artifact(file.path(dir, "m.onnx"), model, data = array(1, c(2, 4, 1)))
    artifact_info(dir, format = "onnx")
    predict(load_savedmodel(file.path(dir, "m.onnx")), matrix(1, 2, 3))
    predict(load_savedmodel(file.path(dir, "m.onnx")), list("a"))
    predict(load_savedmodel(file.path(dir, "m.onnx")), matrix(1, 2, 4), batch_size = 0)
    serve_savedmodel(file.path(dir, "notes.txt"))
  }, transform = redact)
})

test_that("NA never reaches a model as another number", {
  skip_if_no_python()
  k <- keras()
  tokens <- k$Input(shape = list(3L), dtype = "int32", name = "tokens")
  flags <- k$Input(shape = list(2L), dtype = "bool", name = "flags")
  values <- k$Input(shape = list(2L), name = "values")
  joined <- k$layers$Concatenate()(list(
    k$layers$Flatten()(k$layers$Embedding(10L, 2L)(tokens)),
    k$ops$cast(flags, "float32"), values))
  model <- k$Model(list(tokens, flags, values), k$layers$Dense(1L, name = "score")(joined))
  path <- file.path(withr::local_tempdir(), "m.onnx")
  suppressMessages(export_savedmodel(model, path, format = "onnx", verbose = FALSE))
  artifact <- load_savedmodel(path)
  ok <- list(tokens = matrix(1L, 2, 3), flags = matrix(TRUE, 2, 2), values = matrix(1L, 2, 2))
  expect_equal(dim(predict(artifact, ok)), c(2L, 1L))
  with_na <- function(name, value) {
    inputs <- ok
    inputs[[name]][1, 1] <- value
    inputs
  }
  expect_error(predict(artifact, with_na("tokens", NA_integer_)), class = "kerasexport_error_predict_input")
  expect_error(predict(artifact, with_na("flags", NA)), class = "kerasexport_error_predict_input")
  expect_error(predict(artifact, with_na("tokens", NaN)), class = "kerasexport_error_predict_input")
  expect_error(predict(artifact, with_na("tokens", 1.5)), class = "kerasexport_error_predict_input")
  # A float input takes NA as NaN, which the model propagates.
  out <- predict(artifact, with_na("values", NA_integer_))
  expect_true(is.nan(out[1, 1]))
  expect_false(is.nan(out[2, 1]))
})
