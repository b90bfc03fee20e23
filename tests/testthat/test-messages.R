test_that("what Keras prints arrives as an R message naming the final path", {
  skip_if_no_python()
  skip_unless_backend(c("tensorflow", "jax"))
  path <- file.path(withr::local_tempdir(), "model")
  message <- expect_message(
    export_savedmodel(small_model(), path, verbose = TRUE),
    class = "kerasexport_python_output"
  )
  text <- conditionMessage(message)
  expect_match(text, "Saved artifact at", fixed = TRUE)
  expect_match(text, path, fixed = TRUE)
  expect_false(grepl("kerasexport-", text, fixed = TRUE)) # no staging folder
})

test_that("suppressMessages() silences an export completely", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  path <- file.path(withr::local_tempdir(), "model")
  model <- small_model()
  expect_silent(suppressMessages(export_savedmodel(model, path, verbose = TRUE)))
})

test_that("nothing reaches the process's stdout or stderr, even from C++", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  dir <- withr::local_tempdir()
  out <- file.path(dir, "stdout.txt")
  err <- file.path(dir, "stderr.txt")
  callr::r(
    function(path) {
      keras <- reticulate::import("keras") # TensorFlow's own start-up logs come here
      model <- keras$Sequential(list(keras$Input(shape = list(4L)), keras$layers$Dense(2L)))
      cat("MARK\n"); message("MARK")
      suppressMessages(kerasexport::export_savedmodel(model, path, verbose = TRUE))
      suppressMessages(kerasexport::export_savedmodel(model, paste0(path, ".onnx"),
                                                      format = "onnx", verbose = TRUE))
    },
    args = list(path = file.path(dir, "model")),
    stdout = out, stderr = err, env = c(callr::rcmd_safe_env(), KERAS_BACKEND = "tensorflow")
  )
  after_mark <- function(file) {
    lines <- readLines(file)
    lines[-seq_len(max(which(lines == "MARK")))]
  }
  expect_equal(after_mark(out), character())
  expect_equal(after_mark(err), character())
})

test_that("knitr captures export output as messages, and message = FALSE hides it", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  dir <- withr::local_tempdir()
  rmd <- file.path(dir, "report.Rmd")
  writeLines(c(
    "```{r setup, include = FALSE}",
    "keras <- reticulate::import('keras')",
    "model <- keras$Sequential(list(keras$Input(shape = list(4L)), keras$layers$Dense(2L)))",
    "```",
    "```{r shown}",
    "kerasexport::export_savedmodel(model, 'shown', verbose = TRUE)",
    "```",
    "```{r hidden, message = FALSE}",
    "kerasexport::export_savedmodel(model, 'hidden', verbose = TRUE)",
    "```"
  ), rmd)
  md <- callr::r(function(rmd) {
    setwd(dirname(rmd))
    readLines(knitr::knit(rmd, quiet = TRUE))
  }, args = list(rmd = rmd), env = c(callr::rcmd_safe_env(), KERAS_BACKEND = "tensorflow"))
  shown <- grep("Saved artifact at .*shown", md)
  hidden <- grep("Saved artifact at .*hidden", md)
  expect_length(shown, 1)
  expect_length(hidden, 0)
  expect_match(md[shown], "^## ") # knitr's prefix for captured messages
  expect_true(dir.exists(file.path(dir, "hidden")))
})

test_that("Python warnings become R warnings; library-internal ones messages, unless verbose = FALSE", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  reticulate::py_run_string("
import warnings, keras

class WarnsWhenTraced(keras.layers.Layer):
    def call(self, x):
        warnings.warn('this layer is traced', UserWarning)
        warnings.warn('an internal API is deprecated', DeprecationWarning)
        return x
")
  main <- reticulate::import_main()
  k <- keras()
  inputs <- k$Input(shape = list(4L))
  model <- k$Model(inputs, main$WarnsWhenTraced()(inputs))
  conditions_of_export <- function(verbose) {
    path <- file.path(withr::local_tempdir(), "warns")
    messages <- character()
    warnings <- list()
    withCallingHandlers(
      export_savedmodel(model, path, verbose = verbose),
      warning = function(w) {
        warnings[[length(warnings) + 1]] <<- w
        invokeRestart("muffleWarning")
      },
      message = function(m) {
        messages[[length(messages) + 1]] <<- conditionMessage(m)
        invokeRestart("muffleMessage")
      }
    )
    list(messages = messages, warnings = warnings)
  }

  shown <- conditions_of_export(verbose = NULL)
  expect_length(shown$warnings, 1)
  expect_s3_class(shown$warnings[[1]], "kerasexport_python_warning")
  expect_match(conditionMessage(shown$warnings[[1]]), "UserWarning: this layer is traced")
  expect_true(any(grepl("DeprecationWarning: an internal API is deprecated", shown$messages)))

  quiet <- conditions_of_export(verbose = FALSE)
  expect_length(quiet$warnings, 1) # a warning the user can act on stays
  expect_match(conditionMessage(quiet$warnings[[1]]), "UserWarning: this layer is traced")
  expect_equal(quiet$messages, character())

  # A filter set with Python's warnings module holds, as it would in Python.
  reticulate::py_run_string("
import warnings
_filters_before_test = list(warnings.filters)
warnings.filterwarnings('ignore', message='this layer is traced')
")
  withr::defer(reticulate::py_run_string("
warnings.filters[:] = _filters_before_test
getattr(warnings, '_filters_mutated', lambda: None)()  # private; renamed in later Pythons
"))
  filtered <- conditions_of_export(verbose = NULL)
  expect_length(filtered$warnings, 0)
  expect_true(any(grepl("DeprecationWarning: an internal API is deprecated", filtered$messages)))
})

test_that("a torch export with verbose = FALSE says nothing", {
  skip_if_no_python()
  skip_unless_backend("torch")
  path <- file.path(withr::local_tempdir(), "model.onnx")
  model <- small_model()
  expect_silent(export_savedmodel(model, path, format = "onnx", verbose = FALSE))
  expect_true(file.exists(path))
})

test_that("verbose = FALSE leaves nothing on the console for every format, nor does loading", {
  skip_if_no_python()
  dir <- withr::local_tempdir()
  model <- small_model()
  said <- character()
  record <- function(condition) {
    said <<- c(said, paste(class(condition)[[1]], conditionMessage(condition)))
    if (inherits(condition, "warning")) invokeRestart("muffleWarning") else invokeRestart("muffleMessage")
  }
  files <- c(tf_saved_model = "m", onnx = "m.onnx", litert = "m.tflite", openvino = "m.xml",
             torch = "m.pt2")
  for (format in names(files)) {
    path <- file.path(dir, files[[format]])
    withCallingHandlers({
      export_savedmodel(model, path, format = format, verbose = FALSE, verify = TRUE)
      predict(load_savedmodel(path), as.matrix(iris[1:2, 1:4]))
    }, message = record, warning = record)
  }
  expect_equal(said, character())
})
