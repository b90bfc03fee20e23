#' Serve an artifact over TF-Serving's REST API
#'
#' Starts a server for a SavedModel or ONNX artifact (or a folder of numbered
#' versions of one, as [export_savedmodel()] writes with `version`) that
#' speaks TF-Serving's REST API, so that clients written for TF-Serving work
#' unchanged, and the same artifact can later move to TF-Serving itself:
#'
#' * `GET /v1/models/<name>` and `GET /v1/models/<name>/metadata`;
#' * `POST /v1/models/<name>:predict` with the row format (`instances`) or
#'   the columnar format (`inputs`), and `signature_name`;
#' * the `/versions/<n>` forms of each;
#' * `GET /` a page that shows the signature and sends a request, and
#'   `GET /openapi.json` an OpenAPI document for it.
#'
#' The server runs in its own Python process (Starlette on uvicorn), so R
#' stays free and the server is not limited to R's one thread. It binds to
#' 127.0.0.1 unless told otherwise, refuses request bodies over
#' `max_request_bytes`, and answers every malformed request with a 4xx and a
#' TF-Serving style `{"error": ...}` body. It stops when R stops, whatever
#' happens. A folder of versions is watched: a new version is loaded and
#' served without dropping requests.
#'
#' @param path Path of an artifact, or of a folder of numbered versions.
#' @param host Address to bind; `"127.0.0.1"` serves this machine only.
#' @param port Port to listen on.
#' @param name The model name in URLs; `NULL` takes the file or folder name.
#' @param block If `FALSE` (the default), start the server in the background
#'   and return a handle; if `TRUE`, serve until interrupted (Ctrl-C or
#'   SIGTERM), for scripts such as
#'   `Rscript -e 'kerasexport::serve_savedmodel("model", block = TRUE)'`.
#' @param max_request_bytes The largest request body accepted.
#' @param timeout Seconds to wait for the server to answer before giving up.
#' @return With `block = FALSE`, a `kerasexport_server`: a list with `url`,
#'   `name`, `process`, `status()` and `stop()`. With `block = TRUE`, `NULL`
#'   once the server has stopped.
#' @export
#' @examplesIf kerasexport_available() && interactive()
#' keras <- reticulate::import("keras")
#' model <- keras$Sequential(list(
#'   keras$Input(shape = list(4L), name = "measurements"),
#'   keras$layers$Dense(3L, activation = "softmax", name = "species")
#' ))
#' base <- file.path(tempdir(), "iris-served")
#' export_savedmodel(model, base, version = "auto", verbose = FALSE)
#' server <- serve_savedmodel(base, port = 8501)
#' predict_savedmodel(iris[1:2, 1:4], server$url)
#' server$stop()
serve_savedmodel <- function(path, host = "127.0.0.1", port = 8501, name = NULL,
                             block = FALSE, max_request_bytes = 32 * 1024^2, timeout = 120) {
  path <- check_path(path, must_exist = TRUE)
  check_string(host)
  check_number(port)
  check_string(name, allow_null = TRUE)
  check_flag(block)
  check_number(max_request_bytes)
  name <- name %||% sub("\\.onnx$", "", basename(path))
  python_module()
  args <- c("-m", "kerasexport.server", "--path", path, "--name", name, "--host", host,
            "--port", format(port, scientific = FALSE),
            "--max-request-bytes", format(max_request_bytes, scientific = FALSE),
            "--parent-pid", Sys.getpid())
  env <- c("current", PYTHONPATH = system.file("python", package = "kerasexport"),
           TF_CPP_MIN_LOG_LEVEL = "2", LD_LIBRARY_PATH = python_library_path())
  if (block) {
    cli::cli_inform("Serving {.val {name}} at {.url http://{host}:{port}/}; stop with Ctrl-C.")
    processx::run(reticulate::py_exe(), args, env = env, echo = TRUE, error_on_status = FALSE,
                  cleanup_tree = TRUE)
    return(invisible(NULL))
  }
  process <- processx::process$new(reticulate::py_exe(), args, env = env, stdout = "|",
                                   stderr = "|", cleanup = TRUE, cleanup_tree = TRUE)
  url <- sprintf("http://%s:%s", if (host %in% c("0.0.0.0", "::")) "127.0.0.1" else host,
                 format(port, scientific = FALSE))
  server <- new_server(process, url, name)
  wait_until_serving(server, timeout)
  server
}

# R puts its own library folders on LD_LIBRARY_PATH, and they can hold a
# different libpython of the same minor version (Debian's, next to a pyenv
# Python): a Python started from R would then load the wrong one and fail on
# `import ssl`. The server's Python gets its own library folder first.
python_library_path <- function() {
  libdir <- tryCatch(
    reticulate::py_eval("__import__('sysconfig').get_config_var('LIBDIR') or ''"),
    error = function(e) ""
  )
  paste(c(libdir[nzchar(libdir)], Sys.getenv("LD_LIBRARY_PATH")[nzchar(Sys.getenv("LD_LIBRARY_PATH"))]),
        collapse = .Platform$path.sep)
}

new_server <- function(process, url, name) {
  server <- list(
    url = url,
    name = name,
    process = process,
    status = function() {
      if (!process$is_alive()) {
        return("stopped")
      }
      answer <- tryCatch(curl::curl_fetch_memory(paste0(url, "/v1/models/", name)),
                         error = function(e) NULL)
      if (!is.null(answer) && answer$status_code == 200) "serving" else "starting"
    },
    stop = function() {
      if (process$is_alive()) {
        process$signal(15L) # SIGTERM: uvicorn finishes the requests under way
        process$wait(5000)
        if (process$is_alive()) process$kill_tree()
      }
      invisible(TRUE)
    }
  )
  structure(server, class = "kerasexport_server")
}

wait_until_serving <- function(server, timeout, call = caller_env()) {
  deadline <- Sys.time() + timeout
  while (Sys.time() < deadline) {
    status <- server$status()
    if (status == "serving") {
      return(invisible(server))
    }
    if (status == "stopped") {
      output <- paste(c(server$process$read_all_output(), server$process$read_all_error()),
                      collapse = "\n")
      abort_kerasexport(
        c("The server stopped before it served.",
          i = "Its output:", " " = "{output}"),
        kind = "serve", call = call
      )
    }
    Sys.sleep(0.2)
  }
  server$stop()
  abort_kerasexport("The server did not answer within {timeout} seconds.", kind = "serve", call = call)
}

#' @export
print.kerasexport_server <- function(x, ...) {
  cat(sprintf("<kerasexport_server> %s at %s/ (%s)\n", x$name, x$url, x$status()))
  cat(sprintf("  predict: POST %s/v1/models/%s:predict\n", x$url, x$name))
  invisible(x)
}

#' Predict with an artifact, a loaded artifact or a server
#'
#' The calling convention of tfdeploy's `predict_savedmodel()`, so that
#' scripts written for tfdeploy work by changing `library()`.
#'
#' @param instances The inputs, one instance per row: a matrix or data frame,
#'   a list of instances (each a vector, or a named list for named inputs),
#'   or a named list of arrays (one per input).
#' @param model A path to an artifact, an artifact from [load_savedmodel()],
#'   a server from [serve_savedmodel()], or the URL of a TF-Serving
#'   compatible server (`http://host:port`, optionally with
#'   `/v1/models/<name>`).
#' @param signature_name The signature to call; `NULL` for the default.
#' @param ... Passed to [predict.kerasexport_loaded_artifact()].
#' @return An object of class `savedmodel_predictions`: a list with
#'   `predictions`, one element per instance (a vector, or a named list when
#'   the model has several outputs), as tfdeploy returned.
#' @export
#' @examplesIf kerasexport_available()
#' keras <- reticulate::import("keras")
#' model <- keras$Sequential(list(
#'   keras$Input(shape = list(4L), name = "measurements"),
#'   keras$layers$Dense(3L, activation = "softmax", name = "species")
#' ))
#' path <- file.path(tempdir(), "tfdeploy-style.onnx")
#' export_savedmodel(model, path, format = "onnx", verbose = FALSE, overwrite = TRUE)
#' predict_savedmodel(iris[1:2, 1:4], path)
predict_savedmodel <- function(instances, model, signature_name = NULL, ...) {
  if (inherits(model, "kerasexport_server")) {
    model <- paste0(model$url, "/v1/models/", model$name)
  }
  if (is.character(model) && length(model) == 1 && grepl("^https?://", model)) {
    return(predict_over_http(instances, model, signature_name))
  }
  if (is.character(model)) {
    model <- load_savedmodel(model)
  }
  if (!inherits(model, "kerasexport_loaded_artifact")) {
    abort_kerasexport(
      "{.arg model} must be a path, a loaded artifact, a server or a URL, not {.obj_type_friendly {model}}.",
      kind = "argument"
    )
  }
  outputs <- stats::predict(model, instances_as_columns(instances), signature_name = signature_name, ...)
  structure(list(predictions = rows_of(outputs)), class = "savedmodel_predictions")
}

instances_as_columns <- function(instances) {
  if (is.data.frame(instances) || is.matrix(instances) || is.array(instances)) {
    return(instances)
  }
  if (is.list(instances) && !is.null(names(instances))) {
    return(instances) # already one array per named input
  }
  if (is.list(instances) && length(instances) > 0 && is.list(instances[[1]]) &&
      !is.null(names(instances[[1]]))) {
    input_names <- names(instances[[1]])
    return(stats::setNames(lapply(input_names, function(n) {
      do.call(rbind, lapply(instances, function(i) unlist(i[[n]])))
    }), input_names))
  }
  do.call(rbind, lapply(instances, unlist))
}

rows_of <- function(outputs) {
  one_row <- function(x, i) {
    if (is.null(dim(x))) x[[i]] else {
      index <- c(list(i), rep(list(rlang::missing_arg()), length(dim(x)) - 1))
      do.call(`[`, c(list(x), index, drop = TRUE))
    }
  }
  if (!is.list(outputs)) {
    n <- if (is.null(dim(outputs))) length(outputs) else dim(outputs)[[1]]
    return(lapply(seq_len(n), function(i) one_row(outputs, i)))
  }
  n <- dim(outputs[[1]])[[1]] %||% length(outputs[[1]])
  lapply(seq_len(n), function(i) lapply(outputs, one_row, i = i))
}

predict_over_http <- function(instances, url, signature_name, call = caller_env()) {
  if (!grepl("/v1/models/", url)) {
    abort_kerasexport(
      c("{.arg model} is a server address without a model name.",
        i = "Use {.code http://host:port/v1/models/<name>}."),
      kind = "argument", call = call
    )
  }
  rows <- if (is.data.frame(instances) || is.matrix(instances)) {
    lapply(seq_len(nrow(instances)), function(i) unname(unlist(instances[i, , drop = TRUE])))
  } else {
    instances
  }
  body <- list(instances = rows)
  if (!is.null(signature_name)) body$signature_name <- signature_name
  handle <- curl::new_handle()
  curl::handle_setopt(handle, post = TRUE,
                      postfields = jsonlite::toJSON(body, auto_unbox = TRUE, digits = NA))
  curl::handle_setheaders(handle, "Content-Type" = "application/json")
  response <- curl::curl_fetch_memory(paste0(sub("/$", "", url), ":predict"), handle = handle)
  answer <- jsonlite::fromJSON(rawToChar(response$content), simplifyVector = FALSE)
  if (response$status_code != 200) {
    abort_kerasexport(
      c("The server answered {response$status_code}: {answer$error %||% 'no error message'}"),
      kind = "serve", call = call, status = response$status_code
    )
  }
  structure(list(predictions = lapply(answer$predictions, function(p) {
    if (is.list(p) && !is.null(names(p))) lapply(p, unlist) else unlist(p)
  })), class = "savedmodel_predictions")
}
