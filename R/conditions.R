# Every error kerasexport raises is made here, so that the classes stay one
# documented family: `kerasexport_error_<kind>`, then `kerasexport_error`.

#' Errors raised by kerasexport
#'
#' Every error from kerasexport has class `kerasexport_error` and a more
#' specific class `kerasexport_error_<kind>`, so that code can catch one kind
#' with `tryCatch(..., kerasexport_error_missing_dependency = function(e) ...)`.
#' The kinds:
#'
#' * `argument`: an R argument has the wrong type or value.
#' * `unsupported_format`: the format is not one the installed Keras offers;
#'   field `supported`.
#' * `unknown_argument`: an argument in `...` that the format does not accept;
#'   fields `names`, `accepted`.
#' * `invalid_model`: `object` is not a Keras 3 model, or is not built.
#' * `input_signature`: `input_signature` does not fit the model (count,
#'   names, rank, dimensions, dtype); the message names the input.
#' * `missing_dependency`: a Python package the export needs is missing
#'   from the Python in use; fields `package`, `requirement` (the pinned
#'   version) and `install` (the command that installs it into that Python:
#'   its pip, or `reticulate::py_require()` for reticulate's managed
#'   environment).
#' * `unsupported_combination`: the format cannot express this model from
#'   this backend (a recurrent layer over a time axis of any length in
#'   LiteRT, text in a torch program, a layer that cannot travel to another
#'   backend); fields `layers` (the layers concerned), `alternatives` (formats
#'   that can) or `alternative`, `backends`.
#' * `export_failed`: Keras raised an error while exporting; field
#'   `python_type`.
#' * `artifact`: the destination or the artifact is not usable (exists, not an
#'   artifact, cannot be run, a folder that cannot be written to).
#' * `damaged_artifact` (with `artifact`): the artifact's files are damaged
#'   or incomplete (a SavedModel without its `variables/`, a truncated file,
#'   an OpenVINO `.xml` without its `.bin`); fields `path` and `damaged`.
#' * `mismatch`: the artifact does not reproduce the model; fields
#'   `max_abs_diff`, `outputs`.
#' * `predict_input`: inputs to [predict()] or a server request do not fit
#'   the artifact's signature.
#' * `serve`: the server did not start, or answered with an error (field
#'   `status`).
#' * `vetiver`: vetiver cannot describe the model (several inputs, an input
#'   that is not a table of features, no `prototype_data`); see
#'   [kerasexport-vetiver].
#' * `server_timeout` (with `serve`): a server did not answer within
#'   `timeout` seconds; fields `timeout`, `url`.
#' * `python_unavailable`: no Python with Keras could be found.
#' * `python`: any other Python error, with the Python message kept.
#'
#' Python's own exception is kept as the `parent` where there is one.
#' @name kerasexport-errors
NULL

abort_kerasexport <- function(message, kind, ..., call = caller_env(),
                              parent = NULL, .envir = parent.frame()) {
  cli::cli_abort(
    message,
    class = c(paste0("kerasexport_error_", kind), "kerasexport_error"),
    ...,
    call = call,
    parent = parent,
    .envir = .envir
  )
}

# Python exceptions arrive as R conditions whose class starts with
# "python.builtin."; kerasexport's own carry `r_class`, `hint` and `fields`.
abort_from_python <- function(error, call = caller_env()) {
  exception <- python_exception(error)
  kind <- py_attr(exception, "r_class") %||% "python"
  message <- py_attr(exception, "message") %||% python_error_message(exception, error)
  hint <- py_attr(exception, "hint")
  fields <- py_attr(exception, "fields") %||% list()
  if (identical(kind, "missing_dependency") && python_is_managed()) {
    # reticulate's managed environment has no pip, and takes packages added
    # with py_require() even while Python runs.
    fields$install <- sprintf('reticulate::py_require("%s")', fields$requirement)
    hint <- paste0("This is reticulate's managed Python: add the package with ",
                   fields$install, ", then export again.")
  }
  if (identical(kind, "python")) {
    type <- py_attr(exception, "__class__")$`__name__` %||% "Exception"
    message <- paste0("Python raised ", type, ": ", message)
    fields$python_type <- type
  }
  # Messages from Python may contain braces: no cli interpolation here.
  # A kind may come with the broader kind it belongs to
  # (damaged_artifact, then artifact): most specific class first.
  rlang::inject(rlang::abort(
    c(message, i = hint),
    class = c(paste0("kerasexport_error_", unlist(kind)), "kerasexport_error"),
    !!!fields,
    call = call
  ))
}

# Is Python the environment reticulate manages from py_require()?
python_is_managed <- function() {
  isTRUE(tryCatch(reticulate::py_config()$ephemeral, error = function(e) FALSE))
}

python_exception <- function(error) {
  if (inherits(error, "python.builtin.object")) {
    return(error)
  }
  reticulate::py_last_error()
}

py_attr <- function(object, name) {
  if (is.null(object) || !reticulate::py_has_attr(object, name)) {
    return(NULL)
  }
  value <- reticulate::py_get_attr(object, name)
  if (inherits(value, "python.builtin.object")) {
    value <- tryCatch(reticulate::py_to_r(value), error = function(e) value)
  }
  value
}

# The exception's own text, without the traceback reticulate appends.
python_error_message <- function(exception, error) {
  text <- tryCatch(
    reticulate::py_str(exception),
    error = function(e) conditionMessage(error)
  )
  text <- sub("\nRun `reticulate::py_last_error\\(\\)`.*$", "", text)
  trimws(text)
}
