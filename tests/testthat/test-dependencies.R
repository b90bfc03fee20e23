# A missing optional package is simulated honestly: the real package stays
# installed, but a fresh R process runs Python with a sitecustomize that
# makes importing it fail, as if it were absent.

export_with_hidden_modules <- function(hidden, backend, format, path) {
  hide <- normalizePath(test_path("fixtures", "hide-modules"))
  run_fresh_r(
    function(format, path) {
      keras <- reticulate::import("keras")
      model <- keras$Sequential(list(keras$Input(shape = list(4L)), keras$layers$Dense(2L)))
      tryCatch(
        {
          suppressMessages(kerasexport::export_savedmodel(model, path, format = format))
          list(class = "none")
        },
        kerasexport_error = function(e) {
          list(class = class(e), package = e$package, install = e$install,
               requirement = e$requirement, message = conditionMessage(e),
               python = reticulate::py_exe())
        }
      )
    },
    args = list(format = format, path = path),
    env = c(KERAS_BACKEND = backend, PYTHONPATH = hide, KERASEXPORT_HIDE_MODULES = hidden)
  )
}

test_that("a missing converter names the package and the install command", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  dir <- withr::local_tempdir()
  result <- export_with_hidden_modules("tf2onnx", "tensorflow", "onnx", file.path(dir, "m.onnx"))
  expect_true("kerasexport_error_missing_dependency" %in% result$class)
  expect_equal(result$package, "tf2onnx")
  expect_match(result$install, "pip install 'tf2onnx==1.17.0'", fixed = TRUE)
  expect_equal(result$requirement, "tf2onnx==1.17.0")
  # The command installs into the Python that kerasexport is using.
  expect_true(startsWith(result$install, result$python))
  expect_match(result$message, "install_kerasexport()", fixed = TRUE)
  expect_equal(folder_contents(dir), character())
})

test_that("JAX's missing jax2onnx and TensorFlow are named too", {
  skip_if_no_python()
  skip_unless_backend("jax")
  dir <- withr::local_tempdir()
  onnx <- export_with_hidden_modules("jax2onnx", "jax", "onnx", file.path(dir, "m.onnx"))
  expect_true("kerasexport_error_missing_dependency" %in% onnx$class)
  expect_equal(onnx$package, "jax2onnx")
  saved <- export_with_hidden_modules("tensorflow", "jax", "tf_saved_model", file.path(dir, "m"))
  expect_true("kerasexport_error_missing_dependency" %in% saved$class)
  expect_equal(saved$package, "tensorflow-cpu")
  expect_equal(folder_contents(dir), character())
})

test_that("torch to ONNX does not import TensorFlow", {
  skip_if_no_python()
  skip_unless_backend("torch")
  modules <- run_fresh_r(
    function(path) {
      keras <- reticulate::import("keras")
      model <- keras$Sequential(list(keras$Input(shape = list(4L)), keras$layers$Dense(2L)))
      suppressMessages(kerasexport::export_savedmodel(model, path, format = "onnx"))
      names(reticulate::py_to_r(reticulate::import("sys", convert = FALSE)$modules))
    },
    args = list(path = file.path(withr::local_tempdir(), "m.onnx")),
    env = c(KERAS_BACKEND = "torch")
  )
  expect_true("torch" %in% modules)
  expect_false("tensorflow" %in% modules)
})
