# The client side of the servers, in one place: requests to TF-Serving's
# REST API (kerasexport's server or TF-Serving itself), to tfdeploy's route,
# and to the Open Inference Protocol (KServe V2: kerasexport's server,
# Triton, KServe), each failure a classed `kerasexport_error_serve`.

# POST (with `body`, already JSON) or GET `url`; the parsed JSON answer.
# `timeout`: seconds for the whole exchange, so that a server that accepts
# the connection and never answers (hung, or stopped with SIGSTOP) cannot
# hold R.
http_json <- function(url, body = NULL, timeout = 60, call = caller_env()) {
  handle <- curl::new_handle(connecttimeout = min(10, timeout), timeout = timeout)
  if (!is.null(body)) {
    curl::handle_setopt(handle, post = TRUE, postfields = body)
    curl::handle_setheaders(handle, "Content-Type" = "application/json")
  }
  response <- tryCatch(
    curl::curl_fetch_memory(url, handle = handle),
    error = function(e) {
      if (grepl("Timeout was reached|timed out", conditionMessage(e))) {
        abort_kerasexport(
          c("The server at {.url {url}} did not answer within {timeout} second{?s}.",
            i = "It may be hung, suspended or overloaded: check it (its {.code status()}), or pass a larger {.arg timeout}."),
          kind = c("server_timeout", "serve"), call = call, timeout = timeout, url = url
        )
      }
      abort_kerasexport(
        c("No answer from the server at {.url {url}}.",
          x = conditionMessage(e),
          i = "Is the server running? Start one with {.fn serve_savedmodel}."),
        kind = "serve", call = call, parent = NA
      )
    }
  )
  answer <- tryCatch(jsonlite::fromJSON(rawToChar(response$content), simplifyVector = FALSE),
                     error = function(e) NULL)
  if (response$status_code != 200 || !is.list(answer)) {
    error <- if (is.list(answer)) answer$error else NULL
    abort_kerasexport(
      "The server at {.url {url}} answered {response$status_code}: {error %||% 'no JSON'}",
      kind = "serve", call = call, status = response$status_code
    )
  }
  answer
}

to_json <- function(x) {
  jsonlite::toJSON(x, auto_unbox = TRUE, digits = NA, na = "null")
}

# TF-Serving's row format (or tfdeploy's route): predictions as answered.
predict_tf_serving <- function(instances, url, signature_name, timeout = 60, call = caller_env()) {
  url <- sub("/$", "", url)
  endpoint <- if (grepl("/v1/models/[^/:]+(/versions/[0-9]+)?$", url)) {
    paste0(url, ":predict")
  } else if (grepl("/predict$", url)) {
    url
  } else {
    abort_kerasexport(
      c("{.arg model} is a server address without a model: {.url {url}}.",
        i = "Use TF-Serving's {.code http://host:port/v1/models/<name>}, tfdeploy's
             {.code http://host:port/serving_default/predict}, or with {.code protocol = \"v2\"}
             {.code http://host:port/v2/models/<name>}."),
      kind = "argument", call = call
    )
  }
  body <- list(instances = instance_rows(instances, call = call))
  if (!is.null(signature_name)) body$signature_name <- signature_name
  answer <- http_json(endpoint, to_json(body), timeout = timeout, call = call)
  if (is.null(answer$predictions)) {
    abort_kerasexport("The server at {.url {endpoint}} answered without predictions.",
                      kind = "serve", call = call)
  }
  lapply(answer$predictions, function(p) {
    if (is.list(p) && !is.null(names(p))) lapply(p, unlist) else unlist(p)
  })
}

# The Open Inference Protocol: typed tensors in, typed tensors out. `inputs`
# is one array or a named list of them (rows are instances); the result is
# a named list of arrays, one per output. `url` is
# http://host:port/v2/models/<name>[/versions/<v>].
predict_v2 <- function(inputs, url, timeout = 60, call = caller_env()) {
  url <- sub("/$", "", url)
  if (!grepl("/v2/models/[^/]+(/versions/[0-9]+)?$", url)) {
    abort_kerasexport(
      c("With {.code protocol = \"v2\"}, {.arg model} is {.code http://host:port/v2/models/<name>}, not {.url {url}}.",
        i = "A server handle from {.fn serve_savedmodel} works too."),
      kind = "argument", call = call
    )
  }
  metadata <- http_json(url, timeout = timeout, call = call)
  specs <- metadata$inputs
  if (!is.list(inputs) || is.data.frame(inputs)) {
    inputs <- stats::setNames(list(inputs), specs[[1]]$name)
  }
  tensors <- lapply(specs, function(spec) {
    x <- inputs[[spec$name]]
    if (is.null(x)) {
      abort_kerasexport("The model's input {.val {spec$name}} is missing from {.arg instances}.",
                        kind = "predict_input", call = call)
    }
    if (is.data.frame(x)) x <- as.matrix(x)
    if (is.factor(x)) x <- as.character(x)
    if (is.null(dim(x))) {
      # One value per instance for an input of shape (NA, 1).
      x <- if (length(spec$shape) == 2 && identical(spec$shape[[2]], 1L)) matrix(x, ncol = 1) else as.array(x)
    }
    if (anyNA(x)) {
      abort_kerasexport("Input {.val {spec$name}} holds NA: the protocol has no missing values.",
                        kind = "predict_input", call = call)
    }
    # R arrays are column-major; the protocol's data is row-major.
    data <- as.vector(aperm(x, rev(seq_along(dim(x)))))
    data <- switch(spec$datatype, BOOL = as.logical(data), BYTES = as.character(data),
                   if (startsWith(spec$datatype, "FP")) as.numeric(data) else as.integer(data))
    list(name = spec$name, shape = as.list(dim(x)), datatype = spec$datatype, data = I(data))
  })
  answer <- http_json(paste0(url, "/infer"), to_json(list(inputs = tensors)), timeout = timeout,
                      call = call)
  outputs <- lapply(answer$outputs, function(output) {
    shape <- unlist(output$shape)
    values <- unlist(output$data)
    values[vapply(output$data, is.null, TRUE)] <- NaN
    aperm(array(values, rev(shape)), rev(seq_along(shape)))
  })
  stats::setNames(outputs, vapply(answer$outputs, function(o) o$name, ""))
}

#' Predict with a running server
#'
#' Sends `newdata` to a server from [serve_savedmodel()] (or any server that
#' speaks the same API) and returns what [predict.kerasexport_loaded_artifact()]
#' returns for the artifact itself.
#'
#' @param object A server from [serve_savedmodel()].
#' @param newdata The inputs: an array, matrix or data frame for a model
#'   with one input (rows are instances), or a named list of them.
#' @param protocol `"tf-serving"` (the default) sends TF-Serving's columnar
#'   request; `"v2"` the Open Inference Protocol's typed tensors (KServe V2,
#'   as Triton and KServe take them).
#' @param timeout Seconds to wait for the answer. A server that does not
#'   answer in time (hung, suspended or overloaded) is an error of class
#'   `kerasexport_error_server_timeout`.
#' @param model The model to ask, for a server of several; `NULL` for its
#'   default (the first).
#' @param ... Unused.
#' @return An array for a model with one output, else a named list of arrays.
#' @export
#' @examplesIf kerasexport_available() && interactive()
#' keras <- reticulate::import("keras")
#' model <- keras$Sequential(list(
#'   keras$Input(shape = list(4L), name = "measurements"),
#'   keras$layers$Dense(3L, activation = "softmax", name = "species")
#' ))
#' path <- file.path(tempdir(), "served.onnx")
#' export_savedmodel(model, path, format = "onnx", verbose = FALSE, overwrite = TRUE)
#' server <- serve_savedmodel(path, port = 8501)
#' predict(server, iris[1:3, 1:4], protocol = "v2")
#' server$stop()
predict.kerasexport_server <- function(object, newdata, protocol = c("tf-serving", "v2"),
                                       timeout = 60, model = NULL, ...) {
  protocol <- check_protocol(protocol)
  check_number(timeout, min = 0.001)
  model <- check_served_model(model, object)
  outputs <- if (protocol == "v2") {
    predict_v2(newdata, paste0(object$url, "/v2/models/", model), timeout = timeout)
  } else {
    predict_tf_serving_columns(newdata, paste0(object$url, "/v1/models/", model),
                               timeout = timeout)
  }
  if (length(outputs) == 1) outputs[[1]] else outputs
}

# TF-Serving's columnar format: "inputs" in, "outputs" out.
predict_tf_serving_columns <- function(inputs, url, timeout = 60, call = caller_env()) {
  if (is.data.frame(inputs)) inputs <- as.matrix(inputs)
  if (is.list(inputs)) inputs <- lapply(inputs, function(x) if (is.data.frame(x)) as.matrix(x) else x)
  answer <- http_json(paste0(url, ":predict"), to_json(list(inputs = inputs)), timeout = timeout,
                      call = call)
  outputs <- answer$outputs
  as_array <- function(x) {
    rows <- lapply(x, function(r) unlist(lapply(r, function(v) if (is.null(v)) NaN else v)))
    if (all(lengths(rows) == 1)) matrix(unlist(rows), ncol = 1) else do.call(rbind, rows)
  }
  if (is.list(outputs) && !is.null(names(outputs))) lapply(outputs, as_array) else list(as_array(outputs))
}

check_served_model <- function(model, server, call = caller_env()) {
  check_string(model, allow_null = TRUE, call = call)
  models <- server$models %||% server$name
  if (!is.null(model) && !model %in% models) {
    abort_kerasexport(
      c("{.arg model} is {.val {model}}, which the server does not serve.",
        i = "It serves {.val {models}}."),
      kind = "argument", call = call
    )
  }
  model %||% server$name
}

check_protocol <- function(protocol, call = caller_env()) {
  check_choice(protocol, c("tf-serving", "v2"), call = call)
}
