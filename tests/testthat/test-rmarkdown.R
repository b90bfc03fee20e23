# An R Markdown report that trains with keras3 and exports with kerasexport,
# knitted by a fresh Rscript as a user would: what Keras, TensorFlow and
# Python print lands in the document as messages, and nothing on the console.

test_that("a report using keras3 and kerasexport knits with Keras' output inside it", {
  skip_in_second_load_order()
  skip_if_no_keras3()
  skip_if_no_python()
  skip_if_not(rmarkdown::pandoc_available(), "pandoc is not available")
  dir <- withr::local_tempdir()
  exports <- vapply(backend_formats(), function(format) {
    target <- if (format == "onnx") "iris.onnx" else "iris_model"
    sprintf('model |> export_savedmodel(file.path(out, "%s"), format = "%s")', target, format)
  }, "")
  writeLines(c(
    "---", "title: Iris model", "output: md_document", "---", "",
    "```{r setup}", "library(keras3)", "library(kerasexport)", "out <- tempfile()", "```", "",
    "```{r train}",
    "model <- keras_model_sequential(input_shape = 4) |>",
    "  layer_dense(8, activation = 'relu') |> layer_dense(3, activation = 'softmax')",
    "model |> compile(optimizer = 'adam', loss = 'sparse_categorical_crossentropy')",
    "model |> fit(as.matrix(iris[, 1:4]), as.integer(iris$Species) - 1L, epochs = 1, verbose = 0)",
    "```", "",
    "```{r export}", exports,
    "verify_artifact(file.path(out, 'iris.onnx'), model, data = as.matrix(iris[, 1:4]))$passed",
    "```"
  ), file.path(dir, "report.Rmd"))
  env <- Sys.getenv()
  env <- c(env[!names(env) %in% c("RETICULATE_PYTHON", "KERASEXPORT_TEST_KERAS3")],
           KERAS_BACKEND = test_backend())
  knit <- processx::run(
    file.path(R.home("bin"), "Rscript"),
    c("-e", "rmarkdown::render('report.Rmd', quiet = TRUE)"),
    wd = dir, error_on_status = FALSE,
    env = env
  )
  expect_equal(knit$status, 0L, info = knit$stderr)
  expect_equal(knit$stdout, "")
  # keras3 imports TensorFlow before kerasexport runs, and TensorFlow 2.21
  # prints its start-up notices (before absl's logging is set up, whatever
  # TF_CPP_MIN_LOG_LEVEL says) on CPUs where oneDNN runs: those are
  # TensorFlow's, outside any package's reach. Nothing else may be there.
  stderr <- strsplit(knit$stderr, "\n")[[1]]
  tensorflow_notices <- paste0(
    "^(WARNING: All log messages before absl::InitializeLog\\(\\) is called|",
    "I[0-9]{4} [0-9:.]+ +[0-9]+ (port|cpu_feature_guard)\\.cc:[0-9]+\\]|",
    "To enable the following instructions:|$)")
  expect_equal(grep(tensorflow_notices, stderr, value = TRUE, invert = TRUE), character())
  document <- paste(readLines(file.path(dir, "report.md")), collapse = "\n")
  expect_match(document, "## Saved artifact at", fixed = TRUE)
  expect_match(document, "## [1] TRUE", fixed = TRUE)
  expect_false(grepl("Error", document, fixed = TRUE))
})
