# vetiver's own user path with a keras3 model, as vetiver's documentation
# shows it: vetiver_model(), predict(), pins, a plumber API with
# vetiver_api(), vetiver_endpoint() from another process, vetiver_write_plumber().
# The real vetiver, pins, bundle and plumber packages; a real HTTP server.

skip_if_no_vetiver <- function() {
  skip_if_no_keras3()
  skip_if_not_installed("vetiver")
  skip_if_not_installed("pins")
  skip_if_not_installed("plumber")
}

vetiver_iris_model <- function() {
  keras3::set_random_seed(1)
  model <- keras3::keras_model_sequential(input_shape = 4, name = "iris") |>
    keras3::layer_dense(8, activation = "relu") |>
    keras3::layer_dense(3, activation = "softmax", name = "species")
  model |> keras3::compile(optimizer = "adam", loss = "sparse_categorical_crossentropy")
  model |> keras3::fit(as.matrix(iris[, 1:4]), as.integer(iris$Species) - 1L, epochs = 2, verbose = 0)
  model
}

# A plumber router served in another R process: `code(port, ...)` runs it.
serve_router <- function(code, ...) {
  port <- free_port()
  server <- callr::r_bg(code, args = list(port = port, ...), supervise = TRUE,
                        env = c(callr::rcmd_safe_env(), KERAS_BACKEND = test_backend()))
  deadline <- Sys.time() + 120
  url <- sprintf("http://127.0.0.1:%d", port)
  repeat {
    up <- tryCatch(curl::curl_fetch_memory(paste0(url, "/ping"))$status_code == 200,
                   error = function(e) FALSE)
    if (up) break
    if (!server$is_alive() || Sys.time() > deadline) {
      stop("the plumber API did not start:\n", paste(server$read_all_error_lines(), collapse = "\n"))
    }
    Sys.sleep(0.25)
  }
  list(process = server, url = url)
}

test_that("vetiver_model() describes, bundles and predicts a keras3 model on this backend", {
  skip_if_no_vetiver()
  skip_if_no_python()
  skip_in_second_load_order()
  model <- vetiver_iris_model()
  v <- vetiver::vetiver_model(model, "iris", prototype_data = iris[1:2, 1:4])
  expect_s3_class(v, "vetiver_model")
  expect_match(v$description, "ONNX artifact")
  expect_equal(v$metadata$required_pkgs, "kerasexport")
  expect_equal(names(v$prototype), names(iris)[1:4])
  expect_s3_class(v$model, "bundled_kerasexport_artifact")
  expect_output(print(v), "iris")
  want <- stats::predict(model, as.matrix(iris[1:6, 1:4]), verbose = 0)
  expect_equal(predict(v, iris[1:6, 1:4]), want, tolerance = 1e-5, ignore_attr = TRUE)
  # saveRDS() keeps it: the bundle is the artifact's bytes.
  file <- tempfile(fileext = ".rds")
  saveRDS(v, file)
  expect_equal(predict(readRDS(file), iris[1:6, 1:4]), want, tolerance = 1e-5, ignore_attr = TRUE)
})

test_that("the format is the user's choice", {
  skip_if_no_vetiver()
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  model <- vetiver_iris_model()
  withr::local_options(kerasexport.vetiver_format = "tf_saved_model")
  v <- vetiver::vetiver_model(model, "iris", prototype_data = iris[1:2, 1:4])
  expect_match(v$description, "SavedModel")
  expect_equal(predict(v, iris[1:3, 1:4]), stats::predict(model, as.matrix(iris[1:3, 1:4]), verbose = 0),
               tolerance = 1e-5, ignore_attr = TRUE)
})

test_that("models vetiver cannot describe are classed errors", {
  skip_if_no_vetiver()
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  sepal <- keras3::keras_input(shape = 2, name = "sepal")
  petal <- keras3::keras_input(shape = 2, name = "petal")
  two <- keras3::keras_model(list(sepal, petal), keras3::layer_concatenate(list(sepal, petal)) |>
                               keras3::layer_dense(3))
  expect_error(vetiver::vetiver_model(two, "two", prototype_data = iris[1:2, 1:4]),
               class = "kerasexport_error_vetiver")
  model <- vetiver_iris_model()
  expect_error(vetiver::vetiver_model(model, "iris"), class = "kerasexport_error_vetiver")
  expect_error(vetiver::vetiver_model(model, "iris", prototype_data = iris[1:2, 1:3]),
               class = "kerasexport_error_vetiver")
})

test_that("a pinned model is read and predicts in a fresh R session that never loads Keras", {
  skip_if_no_vetiver()
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  model <- vetiver_iris_model()
  v <- vetiver::vetiver_model(model, "iris", prototype_data = iris[1:2, 1:4])
  board_dir <- withr::local_tempdir()
  board <- pins::board_folder(board_dir)
  suppressMessages(vetiver::vetiver_pin_write(board, v))
  result <- run_fresh_r(function(board_dir) {
    board <- pins::board_folder(board_dir)
    v <- vetiver::vetiver_pin_read(board, "iris")
    predictions <- predict(v, iris[1:6, 1:4])
    list(predictions = predictions,
         keras_imported = reticulate::py_eval("'keras' in __import__('sys').modules"),
         tensorflow_imported = reticulate::py_eval("'tensorflow' in __import__('sys').modules"),
         keras3_loaded = isNamespaceLoaded("keras3"))
  }, args = list(board_dir = board_dir), env = c(KERAS_BACKEND = test_backend()))
  expect_equal(result$predictions, stats::predict(model, as.matrix(iris[1:6, 1:4]), verbose = 0),
               tolerance = 1e-5, ignore_attr = TRUE)
  expect_false(result$keras_imported)
  expect_false(result$tensorflow_imported)
  expect_false(result$keras3_loaded)
})

test_that("vetiver_api() serves it on plumber, and vetiver_endpoint() predicts from another process", {
  skip_if_no_vetiver()
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  model <- vetiver_iris_model()
  v <- vetiver::vetiver_model(model, "iris", prototype_data = iris[1:2, 1:4])
  file <- tempfile(fileext = ".rds")
  saveRDS(v, file)
  api <- serve_router(function(port, file) {
    v <- readRDS(file)
    plumber::pr() |> vetiver::vetiver_api(v) |> plumber::pr_run(port = port, host = "127.0.0.1")
  }, file = file)
  withr::defer(api$process$kill())
  want <- stats::predict(model, as.matrix(iris[1:6, 1:4]), verbose = 0)
  endpoint <- vetiver::vetiver_endpoint(paste0(api$url, "/predict"))
  got <- predict(endpoint, iris[1:6, 1:4])
  expect_named(got, c(".pred_1", ".pred_2", ".pred_3"))
  expect_equal(as.matrix(got), want, tolerance = 1e-5, ignore_attr = TRUE)
  # Input that does not fit the prototype is refused with a 4xx or 5xx and a message.
  bad <- http_request(paste0(api$url, "/predict"), '[{"Sepal.Length": 1}]')
  expect_gte(bad$status, 400)
})

test_that("vetiver_write_plumber() writes an app that runs, with the runtime's requirements", {
  skip_if_no_vetiver()
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  model <- vetiver_iris_model()
  v <- vetiver::vetiver_model(model, "iris", prototype_data = iris[1:2, 1:4])
  board_dir <- withr::local_tempdir()
  board <- pins::board_folder(board_dir)
  suppressMessages(vetiver::vetiver_pin_write(board, v))
  app_dir <- withr::local_tempdir()
  plumber_file <- file.path(app_dir, "plumber.R")
  vetiver::vetiver_write_plumber(board, "iris", file = plumber_file)
  expect_true(file.exists(plumber_file))
  requirements <- readLines(file.path(app_dir, "requirements.txt"))
  expect_true(any(grepl("^onnxruntime==", requirements)))
  expect_false(any(grepl("^tensorflow", requirements)))
  api <- serve_router(function(port, plumber_file) {
    plumber::plumb(plumber_file) |> plumber::pr_run(port = port, host = "127.0.0.1")
  }, plumber_file = plumber_file)
  withr::defer(api$process$kill())
  got <- predict(vetiver::vetiver_endpoint(paste0(api$url, "/predict")), iris[1:4, 1:4])
  expect_equal(as.matrix(got), stats::predict(model, as.matrix(iris[1:4, 1:4]), verbose = 0),
               tolerance = 1e-5, ignore_attr = TRUE)
})
