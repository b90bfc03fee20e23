# Shared test helpers. Tests run against the installed package, once per Keras
# backend (KERAS_BACKEND), each backend in its own R process.

test_backend <- function() Sys.getenv("KERAS_BACKEND", "tensorflow")

# The load order under test (tools/run-r-tests.R runs the suite in each):
# "before" attached keras3 before kerasexport; "after" attaches it here, once
# kerasexport is attached, as `library(kerasexport); library(keras3)` does.
if (identical(Sys.getenv("KERASEXPORT_TEST_KERAS3"), "after")) {
  suppressPackageStartupMessages(library(keras3))
}

skip_if_no_keras3 <- function() {
  skip_if_not_installed("keras3")
}

# Tests that start fresh R processes with their own load orders (or need no
# package loaded in this one) run once per backend, in the first order.
skip_in_second_load_order <- function() {
  skip_if(identical(Sys.getenv("KERASEXPORT_TEST_KERAS3"), "after"),
          "starts its own R processes in each load order; runs in the other load order")
}

skip_if_no_python <- function() {
  skip_if_not(kerasexport_available(), "Python with Keras 3 is not available")
}

# Tests of backend-independent behaviour run in the TensorFlow process only.
skip_unless_backend <- function(backends) {
  skip_if_not(test_backend() %in% backends,
              paste("runs with KERAS_BACKEND in:", paste(backends, collapse = ", ")))
}

keras <- function() reticulate::import("keras")

# A small classifier with the shapes of iris: 4 features in, 3 classes out.
small_model <- function(seed = 1L) {
  k <- keras()
  k$utils$set_random_seed(as.integer(seed))
  k$Sequential(list(
    k$Input(shape = list(4L), name = "features"),
    k$layers$Dense(8L, activation = "relu"),
    k$layers$Dense(3L, activation = "softmax")
  ))
}

# Muffle what Python printed or warned about library internals (the torch
# exporter warns on every export), to let another message be tested.
without_python_messages <- function(expr) {
  withCallingHandlers(expr, kerasexport_python_output = function(m) tryInvokeRestart("muffleMessage"),
                      kerasexport_python_warning = function(m) tryInvokeRestart("muffleMessage"))
}

# Formats the current backend writes itself with Keras 3.15 (test-formats.R
# covers the ones that go through another backend).
backend_formats <- function() {
  if (test_backend() == "torch") "onnx" else c("tf_saved_model", "onnx")
}

artifact_path <- function(dir, format) {
  file.path(dir, if (format == "onnx") "model.onnx" else "model")
}

# Everything in a folder, hidden files included: to show nothing was left.
folder_contents <- function(dir) {
  sort(list.files(dir, all.files = TRUE, no.. = TRUE, recursive = TRUE))
}

# A fingerprint of a file or folder: paths, sizes and bytes.
snapshot_path <- function(path) {
  files <- if (dir.exists(path)) list.files(path, recursive = TRUE, full.names = TRUE) else path
  vapply(files, function(f) paste(readBin(f, "raw", file.size(f)), collapse = ""), "")
}

# Run `code` in a fresh R process with the given environment variables.
run_fresh_r <- function(fun, args = list(), env = character(), wd = tempdir()) {
  callr::r(fun, args = args, env = c(callr::rcmd_safe_env(), env), wd = wd)
}

# A port nothing listens on now.
free_port <- function() {
  for (i in 1:50) {
    port <- sample(20000:40000, 1)
    ok <- tryCatch({
      con <- suppressWarnings(socketConnection("127.0.0.1", port, timeout = 0.2, open = "r+"))
      close(con)
      FALSE
    }, error = function(e) TRUE)
    if (ok) return(port)
  }
  stop("no free port")
}


# A request with curl, as any client sends it: status and parsed JSON body.
http_request <- function(url, body = NULL) {
  handle <- curl::new_handle(timeout = 60)
  if (!is.null(body)) {
    curl::handle_setopt(handle, post = TRUE, postfields = body)
    curl::handle_setheaders(handle, "Content-Type" = "application/json")
  }
  response <- curl::curl_fetch_memory(url, handle = handle)
  list(status = response$status_code,
       body = jsonlite::fromJSON(rawToChar(response$content), simplifyVector = FALSE))
}

# The Python of the clients' virtualenv (Triton's client), beside the
# checkout the tests run from; NULL when there is none.
triton_client_python <- function() {
  # The folder is resolved, not the program: a virtualenv's python is a link
  # to the base Python, which would not see the virtualenv's packages.
  bin <- file.path(testthat::test_path(), "..", "..", ".venv-clients", "bin")
  if (file.exists(file.path(bin, "python"))) file.path(normalizePath(bin), "python") else NULL
}
