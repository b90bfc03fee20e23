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
#'   `GET /openapi.json` an OpenAPI document for it;
#' * tfdeploy's `POST /<signature_name>/predict` (`"instances"` in, every
#'   output named per instance out) and `GET /swagger.json`, so that clients
#'   of tfdeploy's server work unchanged.
#'
#' The server runs in its own Python process (Starlette on uvicorn), so R
#' stays free and the server is not limited to R's one thread. It binds to
#' 127.0.0.1 unless told otherwise, refuses request bodies over
#' `max_request_bytes`, and answers every malformed request with a 4xx and a
#' TF-Serving style `{"error": ...}` body. It stops when R stops, whatever
#' happens. A folder of versions is watched: a new version is loaded and
#' served without dropping requests.
#'
#' @section Scripts written for tfdeploy:
#' tfdeploy's arguments work with tfdeploy's meaning: `model_dir` (the same
#' as `path`), `daemonized = TRUE` (serve in the background and return, the
#' same as `block = FALSE`) or `FALSE` (serve until interrupted), and
#' `browse = TRUE` (open the server's page in a browser, in interactive
#' sessions). A call that uses any of them serves on tfdeploy's port, 8089,
#' unless `port` is given, so that such a script finds the server at the
#' address it expects (`http://127.0.0.1:8089/serving_default/predict`).
#'
#' @param path Path of an artifact, or of a folder of numbered versions; or,
#'   for several models in one server, a named list (or vector) of them,
#'   named by the model names in URLs (`list(iris = "iris", cars =
#'   "cars.onnx")`). Each model has its own versions, in every route of both
#'   protocols (and of gRPC); the first is the default (tfdeploy's route and
#'   the page at `/`).
#' @param host Address to bind; `"127.0.0.1"` serves this machine only.
#' @param port Port to listen on, a whole number from 1 to 65535. `NULL`
#'   takes 8501 (TF-Serving's REST port), or 8089 (tfdeploy's) when the call
#'   uses tfdeploy's arguments.
#' @param daemonized,browse,model_dir tfdeploy's arguments; see the section
#'   below.
#' @param name The model name in URLs; `NULL` takes the file or folder name.
#' @param block If `FALSE` (the default), start the server in the background
#'   and return a handle; if `TRUE`, serve until interrupted (Ctrl-C or
#'   SIGTERM), for scripts such as
#'   `Rscript -e 'kerasexport::serve_savedmodel("model", block = TRUE)'`.
#' @param max_request_bytes The largest request body accepted.
#' @param precision What the runtime computes in, as in [load_savedmodel()]:
#'   `"float32"` (the default) on every CPU, or `"bfloat16"`/`"float16"`
#'   where the format's runtime offers it.
#' @param timeout Seconds to wait for the server to start answering before
#'   giving up.
#' @param grpc_port A port for gRPC beside REST, or `NULL` for none: the same
#'   models over TF-Serving's `PredictionService` (`Predict`,
#'   `GetModelMetadata`) and `ModelService` (`GetModelStatus`), which
#'   TF-Serving's Python client calls (it needs `install_kerasexport(serving
#'   = "grpc")`), and the Open Inference Protocol's `GRPCInferenceService`,
#'   which Triton's and KServe's clients call. Errors are gRPC status codes.
#' @param max_batch_size `NULL` (the default) runs each request on its own.
#'   A number merges requests to one model that arrive while it is busy, up
#'   to that many instances, into one run (adaptive batching, as TF-Serving's
#'   `--enable_batching` and Triton's dynamic batcher): each client gets its
#'   own rows. A request that finds the model idle runs at once, so one
#'   client waits no longer than without batching. The README's benchmark
#'   measures what it buys.
#' @param max_queue_delay With batching, seconds a batch that is not full
#'   waits for more requests (0, the default: it goes when the model is free).
#' @param model_config_file A TF-Serving model config file (the text
#'   `ModelServerConfig` of TF-Serving's `--model_config_file`) naming the
#'   models to serve, with their version policies (`latest`, `all`,
#'   `specific`) and version labels (`/v1/models/<name>/labels/<label>`),
#'   instead of or besides `path`.
#' @return With `block = FALSE`, a `kerasexport_server`: a list with `url`,
#'   `name` (the default model), `models` (every model's name), `grpc` (the
#'   gRPC address, or `NULL`), `process`, `log` (the server's log file, kept
#'   under 2 MiB with one older file `<log>.1`), `status()` and `stop()`. The
#'   server also answers `GET /metrics` in Prometheus' text format (requests,
#'   errors and latency by model, version and protocol; batch sizes). With `block = TRUE`, `NULL`
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
#' predict_savedmodel(iris[1:2, 1:4], server)
#' server$stop()
serve_savedmodel <- function(path, host = "127.0.0.1", port = NULL, daemonized = NULL,
                             browse = NULL, name = NULL, block = NULL,
                             max_request_bytes = 32 * 1024^2, timeout = 120, model_dir = NULL,
                             precision = "float32", grpc_port = NULL, max_batch_size = NULL,
                             max_queue_delay = 0, model_config_file = NULL) {
  tfdeploy_style <- !is.null(daemonized) || !is.null(browse) || !is.null(model_dir)
  if (missing(path) && !is.null(model_dir)) {
    path <- model_dir
  }
  if (missing(path) && !is.null(model_config_file)) {
    path <- NULL
  }
  models <- check_model_paths(path, name)
  if (!is.null(model_config_file)) {
    model_config_file <- check_path(model_config_file, must_exist = TRUE)
  }
  if (length(models) == 0 && is.null(model_config_file)) {
    abort_kerasexport("Give {.arg path} (one model, or a named list of them) or {.arg model_config_file}.",
                      kind = "argument")
  }
  check_string(host)
  port <- port %||% if (tfdeploy_style) 8089 else 8501
  check_port(port)
  check_flag(daemonized, allow_null = TRUE)
  check_flag(browse, allow_null = TRUE)
  check_string(name, allow_null = TRUE)
  check_flag(block, allow_null = TRUE)
  check_number(max_request_bytes, min = 1)
  check_number(timeout, min = 0)
  precision <- check_precision(precision)
  if (!is.null(grpc_port)) check_port(grpc_port)
  if (!is.null(max_batch_size)) check_number(max_batch_size, min = 1, whole = TRUE)
  check_number(max_queue_delay, min = 0)
  if (!is.null(daemonized) && !is.null(block) && daemonized == block) {
    abort_kerasexport(
      c("{.arg daemonized} and {.arg block} disagree.",
        i = "{.code daemonized = TRUE} is {.code block = FALSE}: give one of them."),
      kind = "argument"
    )
  }
  block <- block %||% if (is.null(daemonized)) FALSE else !daemonized
  for (model in names(models)) call_python("servable_versions", list(path = models[[model]]))
  if (!is.null(model_config_file)) {
    models_in_config <- unlist(call_python("model_config_names", list(path = model_config_file)))
  } else {
    models_in_config <- character()
  }
  name <- c(names(models), models_in_config)[[1]]
  url <- sprintf("http://%s:%s", if (host %in% c("0.0.0.0", "::")) "127.0.0.1" else host,
                 format(port, scientific = FALSE))
  check_port_free(host, port)
  if (!is.null(grpc_port)) check_port_free(host, grpc_port)
  # The server logs to a file of bounded size (never to a pipe that nobody
  # reads, which would block it once full); what its Python writes before
  # logging starts goes to a file beside it.
  log <- file.path(tempdir(), sprintf("kerasexport-server-%s-%s.log", port, Sys.getpid()))
  number <- function(x) format(x, scientific = FALSE)
  args <- c("-m", "kerasexport.server",
            unlist(lapply(names(models), function(n) c("--model", paste0(n, "=", models[[n]])))),
            if (!is.null(model_config_file)) c("--model-config-file", model_config_file),
            "--host", host, "--port", number(port),
            "--max-request-bytes", number(max_request_bytes),
            "--parent-pid", Sys.getpid(), "--log-file", log, "--precision", precision,
            if (!is.null(grpc_port)) c("--grpc-port", number(grpc_port)),
            if (!is.null(max_batch_size)) c("--max-batch-size", number(max_batch_size),
                                            "--max-queue-delay", number(max_queue_delay)))
  env <- c("current", PYTHONPATH = python_package_path(),
           TF_CPP_MIN_LOG_LEVEL = "2", LD_LIBRARY_PATH = python_library_path())
  browse <- isTRUE(browse) && interactive()
  if (block) {
    cli::cli_inform("Serving {.val {name}} at {.url {url}/}, logging to {.path {log}}; stop with Ctrl-C.")
    if (browse) utils::browseURL(paste0(url, "/"))
    processx::run(reticulate::py_exe(), args, env = env, echo = TRUE, error_on_status = FALSE,
                  cleanup_tree = TRUE)
    return(invisible(NULL))
  }
  process <- processx::process$new(reticulate::py_exe(), args, env = env,
                                   stdout = paste0(log, ".out"), stderr = "2>&1",
                                   cleanup = TRUE, cleanup_tree = TRUE)
  server <- new_server(process, url, name, log, models = c(names(models), models_in_config),
                       grpc = if (!is.null(grpc_port)) {
                         sprintf("%s:%s", if (host %in% c("0.0.0.0", "::")) "127.0.0.1" else host,
                                 number(grpc_port))
                       })
  wait_until_serving(server, timeout)
  if (browse) utils::browseURL(paste0(url, "/"))
  server
}

# The models to serve, by name: one path (named `name`, or after its file or
# folder), or a named list or vector of them.
check_model_paths <- function(path, name = NULL, call = caller_env()) {
  if (is.null(path)) {
    return(character())
  }
  if (length(path) == 1 && is.null(names(path)) && !is.list(path)) {
    path <- check_path(path, must_exist = TRUE, call = call)
    check_string(name, allow_null = TRUE, call = call)
    return(stats::setNames(path, name %||% sub("\\.(onnx|tflite|xml|pt2)$", "", basename(path))))
  }
  model_names <- names(path)
  if (is.null(model_names) || any(!nzchar(model_names)) || anyDuplicated(model_names) ||
      any(grepl("[/:]", model_names))) {
    abort_kerasexport(
      c("{.arg path} must be one path, or a list of paths named by their model names.",
        i = "Names are unique, without {.code /} or {.code :}, e.g. {.code list(iris = \"iris\", cars = \"cars.onnx\")}."),
      kind = "argument", call = call
    )
  }
  stats::setNames(vapply(path, function(p) check_path(p, must_exist = TRUE, arg = "path", call = call), ""),
                  model_names)
}

check_port <- function(x, arg = rlang::caller_arg(x), call = caller_env()) {
  if (!(is.numeric(x) && length(x) == 1 && !is.na(x) && x == trunc(x) && x >= 1 && x <= 65535)) {
    abort_kerasexport(
      "{.arg {arg}} must be a whole number from 1 to 65535, not {.obj_type_friendly {x}}{number_shown(x)}.",
      kind = "argument", call = call
    )
  }
  invisible(x)
}

# Something already answering on host:port would make the server fail to
# bind, after its process started: say so before anything starts.
check_port_free <- function(host, port, call = caller_env()) {
  address <- if (host %in% c("0.0.0.0", "::", "")) "127.0.0.1" else host
  connection <- tryCatch(
    suppressWarnings(socketConnection(address, port, open = "r+", blocking = TRUE, timeout = 1)),
    error = function(e) NULL
  )
  if (!is.null(connection)) {
    close(connection)
    abort_kerasexport(
      c("Port {port} on {address} is already in use by another program.",
        i = "Stop that program, or pass another {.arg port}."),
      kind = "serve", call = call, port = port
    )
  }
  invisible(port)
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

new_server <- function(process, url, name, log, models = name, grpc = NULL) {
  # Whether the server has answered once: after that, silence is a hung
  # (or suspended) server, not one still starting.
  answered <- FALSE
  server <- list(
    url = url,
    name = name,
    models = models,
    grpc = grpc,
    process = process,
    log = log,
    status = function() {
      if (!process$is_alive()) {
        return("stopped")
      }
      if (identical(http_status(paste0(url, "/v1/models/", name)), 200L)) {
        answered <<- TRUE
        return("serving")
      }
      if (answered) "not answering" else "starting"
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

# The status code of a GET, or NA when nothing answered in time: a program
# that accepts connections but never answers must not hold R.
http_status <- function(url, seconds = 2) {
  handle <- curl::new_handle(connecttimeout = seconds, timeout = seconds)
  tryCatch(curl::curl_fetch_memory(url, handle = handle)$status_code, error = function(e) NA_integer_)
}

wait_until_serving <- function(server, timeout, call = caller_env()) {
  deadline <- Sys.time() + timeout
  repeat {
    status <- server$status()
    if (status == "serving") {
      return(invisible(server))
    }
    if (status == "stopped") {
      abort_kerasexport(
        c("The server stopped before it served: {server_failure(server)}",
          i = "Its log: {.path {server$log}}"),
        kind = "serve", call = call, log = server$log
      )
    }
    if (Sys.time() >= deadline) break
    Sys.sleep(0.2)
  }
  server$stop()
  abort_kerasexport(
    c("The server did not answer within {timeout} second{?s}; it has been stopped.",
      i = "A large model can take longer to load: pass a larger {.arg timeout}."),
    kind = "serve", call = call
  )
}

# Why a server process ended: the last thing it logged, in a sentence.
server_failure <- function(server) {
  lines <- unlist(lapply(c(server$log, paste0(server$log, ".out")), function(f) {
    if (file.exists(f)) readLines(f, warn = FALSE) else character()
  }))
  if (any(grepl("address already in use", lines, ignore.case = TRUE))) {
    return("its port is already in use by another program.")
  }
  reasons <- grep("(Error|error|Exception):", lines, value = TRUE)
  reason <- if (length(reasons)) utils::tail(reasons, 1) else utils::tail(lines[nzchar(lines)], 1)
  if (length(reason) == 0) {
    return(sprintf("its process exited with status %s.", server$process$get_exit_status()))
  }
  sub("^.*?(kerasexport\\.[a-z_.]*|[A-Za-z]*Error): ", "", reason)
}

#' @export
print.kerasexport_server <- function(x, ...) {
  cat(sprintf("<kerasexport_server> %s at %s/ (%s)\n", paste(x$models, collapse = ", "), x$url,
              x$status()))
  for (model in x$models) cat(sprintf("  predict: POST %s/v1/models/%s:predict\n", x$url, model))
  if (!is.null(x$grpc)) cat(sprintf("  gRPC: %s (TF-Serving's and the Open Inference Protocol's)\n", x$grpc))
  cat(sprintf("  metrics: %s/metrics\n", x$url))
  cat(sprintf("  log: %s\n", x$log))
  invisible(x)
}

#' Predict with an artifact, a loaded artifact or a server
#'
#' tfdeploy's `predict_savedmodel()`, with its calling convention and its
#' result, so that scripts written for tfdeploy work by changing `library()`.
#'
#' @param instances The inputs, one instance per row: a matrix or data frame,
#'   a list of instances (each a vector, or a named list for named inputs),
#'   or a named list of arrays (one per input).
#' @param model A path to an artifact, an artifact from [load_savedmodel()],
#'   a server from [serve_savedmodel()], or a server's URL: TF-Serving's
#'   (`http://host:port/v1/models/<name>`, which kerasexport's server and
#'   TF-Serving answer) or tfdeploy's (`http://host:port/<signature>/predict`).
#' @param signature_name The signature to call; `NULL` for the default
#'   (`"serving_default"`).
#' @param protocol For a server: `"tf-serving"` (the default) speaks
#'   TF-Serving's REST API, `"v2"` the Open Inference Protocol (KServe V2),
#'   which Triton and KServe speak too; then `model` is a server from
#'   [serve_savedmodel()] or `http://host:port/v2/models/<name>`, and the
#'   predictions come back like a local artifact's.
#' @param timeout For a server: seconds to wait for its answer (see
#'   [predict.kerasexport_server()]).
#' @param ... For tfdeploy's scripts: `type` (`"export"` for a path,
#'   `"webapi"` for a URL, `"graph"` for a loaded artifact) chooses how
#'   `model` is read, and `sess` is accepted and not needed. Anything else is
#'   passed to [predict.kerasexport_loaded_artifact()] (`batch_size`).
#' @return An object of class `savedmodel_predictions`: a list with
#'   `predictions`, one element per instance. From a path or a loaded
#'   artifact, as tfdeploy returned: each instance a named list with one
#'   element per output. From a server, what it answered: for TF-Serving's
#'   API, a vector per instance for one output and a named list for
#'   several.
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
predict_savedmodel <- function(instances, model, signature_name = NULL, ...,
                               protocol = c("tf-serving", "v2"), timeout = 60) {
  protocol <- check_protocol(protocol)
  check_number(timeout, min = 0.001)
  dots <- list(...)
  type <- dots$type
  dots$type <- NULL
  dots$sess <- NULL # tfdeploy's TensorFlow 1 session: nothing to do with it
  if (!is.null(type)) {
    check_string(type)
    if (!type %in% c("export", "webapi", "graph")) {
      abort_kerasexport(
        "{.arg type} must be {.or {.val {c('export', 'webapi', 'graph')}}}, not {.val {type}}.",
        kind = "argument"
      )
    }
  }
  check_string(signature_name, allow_null = TRUE)
  if (inherits(model, "kerasexport_server")) {
    model <- paste0(model$url, if (protocol == "v2") "/v2/models/" else "/v1/models/", model$name)
  }
  is_url <- is.character(model) && length(model) == 1 && !is.na(model) && grepl("^https?://", model)
  if (protocol == "v2" && is_url) {
    outputs <- predict_v2(instances_as_columns(instances), model, timeout = timeout)
    return(structure(list(predictions = rows_of(outputs)), class = "savedmodel_predictions"))
  }
  if (identical(type, "webapi") || (is.null(type) && is_url)) {
    predictions <- predict_tf_serving(instances, model, signature_name, timeout = timeout)
    return(structure(list(predictions = predictions), class = "savedmodel_predictions"))
  }
  if (is.character(model) && length(model) == 1 && !is_url) {
    model <- load_savedmodel(model)
  }
  if (!inherits(model, "kerasexport_loaded_artifact")) {
    abort_kerasexport(
      "{.arg model} must be a path, a loaded artifact, a server or a URL, not {.obj_type_friendly {model}}.",
      kind = "argument"
    )
  }
  outputs <- do.call(stats::predict, c(list(model, instances_as_columns(instances, call = rlang::current_env()),
                                            signature_name = signature_name), dots))
  if (!is.list(outputs)) {
    outputs <- stats::setNames(list(outputs), model$output_names(signature_name))
  }
  structure(list(predictions = rows_of(outputs)), class = "savedmodel_predictions")
}

#' @export
print.savedmodel_predictions <- function(x, ...) {
  predictions <- x$predictions
  for (index in seq_along(predictions)) {
    if (length(predictions) > 1) cat("Prediction ", index, ":\n", sep = "")
    print(predictions[[index]])
  }
  invisible(x)
}

# Instances (one per element) as what predict() takes: one matrix, or one
# per named input. Rows are never recycled: instances of different lengths,
# or naming different inputs, are an error.
instances_as_columns <- function(instances, call = caller_env()) {
  if (is.data.frame(instances) || is.matrix(instances) || is.array(instances)) {
    return(instances)
  }
  if (!is.list(instances) || length(instances) == 0) {
    abort_kerasexport(
      c("{.arg instances} must be a matrix, a data frame or a list of instances, not {.obj_type_friendly {instances}}.",
        i = "tfdeploy's form is a list with one element per instance, e.g. {.code list(c(5.1, 3.5, 1.4, 0.2))}."),
      kind = "predict_input", call = call
    )
  }
  if (!is.null(names(instances))) {
    return(instances) # already one array per named input
  }
  if (is.list(instances[[1]]) && !is.null(names(instances[[1]]))) {
    input_names <- names(instances[[1]])
    for (i in seq_along(instances)) {
      if (!identical(sort(names(instances[[i]])), sort(input_names))) {
        abort_kerasexport(
          c("Instance {i} of {.arg instances} names the inputs {.val {names(instances[[i]])}}; instance 1 names {.val {input_names}}.",
            i = "Every instance names the same inputs."),
          kind = "predict_input", call = call
        )
      }
    }
    return(stats::setNames(lapply(input_names, function(n) {
      rows_to_matrix(lapply(instances, function(i) unlist(i[[n]])), paste0("input ", n), call)
    }), input_names))
  }
  rows_to_matrix(lapply(instances, unlist), "instances", call)
}

rows_to_matrix <- function(rows, what, call) {
  lengths <- lengths(rows)
  if (any(lengths != lengths[[1]])) {
    odd <- which(lengths != lengths[[1]])[[1]]
    abort_kerasexport(
      c("The {what} are ragged: instance {odd} has {lengths[[odd]]} value{?s}, instance 1 has {lengths[[1]]}.",
        i = "Every instance needs the same number of values: rows are never recycled."),
      kind = "predict_input", call = call
    )
  }
  do.call(rbind, rows)
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

# Instances as JSON rows: a list per instance. Rows of a matrix or data
# frame are taken as they are; a list of instances must be rectangular.
instance_rows <- function(instances, call = caller_env()) {
  if (is.data.frame(instances) || is.matrix(instances)) {
    return(lapply(seq_len(nrow(instances)), function(i) unname(unlist(instances[i, , drop = TRUE]))))
  }
  instances_as_columns(instances, call = call) # only to refuse ragged instances
  instances
}
