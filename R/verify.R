#' Check that an artifact reproduces its model
#'
#' Runs the artifact in another Python process, which never loads Keras'
#' model code or the model (proving the artifact is standalone; one process
#' per format is kept warm for the session; the environment variable
#' `KERASEXPORT_FRESH_PROCESSES=1`, set before Python starts, makes a new one
#' for each check), the way its
#' clients run it (its format's runtime, its `"serving_default"` endpoint,
#' in float32), and compares its outputs with the model's own predictions on
#' the same inputs, matched by name where the artifact uses the model's
#' names. A damaged artifact (a SavedModel without its `variables/`, a cut
#' file) is a `kerasexport_error_damaged_artifact` that names what is
#' missing.
#'
#' @param path Path of an artifact of any format kerasexport writes.
#' @param model The Keras model the artifact was exported from.
#' @param data Inputs to compare on: an array, matrix or data frame for a
#'   model with one input, or a list of them (named by the model's input
#'   names, or in the model's order); character vectors and matrices for
#'   text inputs. `NULL` makes random inputs shaped as the model's inputs.
#' @param format The artifact's format; `NULL` infers it from `path`.
#' @param tolerance The largest difference allowed between an output of the
#'   artifact and of the model: absolute for outputs whose values lie within
#'   -1 and 1 (probabilities, scaled values), relative to the output's
#'   largest value beyond that (the logits of a deep network differ between
#'   runtimes by about 1e-6 of their size in float32). NaN where the model
#'   gives NaN counts as agreement.
#'
#' @return An object of class `kerasexport_verification` (invisibly): a list
#'   with `passed`, `max_abs_diff`, and `outputs`, a data frame with the
#'   maximum absolute and relative difference per output. A difference above
#'   `tolerance` is an error of class `kerasexport_error_mismatch` that
#'   carries the same numbers.
#' @export
#' @examplesIf kerasexport_available()
#' keras <- reticulate::import("keras")
#' model <- keras$Sequential(list(
#'   keras$Input(shape = list(4L)),
#'   keras$layers$Dense(3L, activation = "softmax")
#' ))
#' path <- file.path(tempdir(), "verified.onnx")
#' export_savedmodel(model, path, format = "onnx", verbose = FALSE, overwrite = TRUE)
#' verify_artifact(path, model)
verify_artifact <- function(path, model, data = NULL, format = NULL, tolerance = 1e-5) {
  path <- check_path(path, must_exist = TRUE)
  check_keras_model(model)
  check_string(format, allow_null = TRUE)
  check_number(tolerance)
  if (!is.null(data) && (!is.list(data) || is.data.frame(data))) {
    data <- list(data)
  }
  inputs <- NULL
  if (!is.null(data)) {
    if (length(data) == 0) {
      abort_kerasexport("{.arg data} is an empty list.", kind = "predict_input")
    }
    for (i in seq_along(data)) check_numeric_data(data[[i]], i)
    inputs <- lapply(data, as_input_array)
    if (!is.null(names(data))) {
      inputs <- reticulate::py_dict(names(data), unname(inputs), convert = FALSE)
    }
  }
  result <- call_python("verify", python_kwargs(list(
    path = path, format = format, model = model,
    inputs = inputs, tolerance = tolerance
  )))
  result$outputs <- do.call(rbind, lapply(result$outputs, function(row) {
    data.frame(
      output = row$output,
      shape = paste0("(", paste(unlist(row$shape), collapse = ", "), ")"),
      max_abs_diff = row$max_abs_diff,
      max_rel_diff = row$max_rel_diff
    )
  }))
  invisible(structure(result, class = "kerasexport_verification"))
}

#' @export
format.kerasexport_verification <- function(x, ...) {
  c(
    cli::format_inline(
      "{.cls kerasexport_verification} {.path {x$path}} ({x$format}): ",
      if (isTRUE(x$passed)) "passed" else "FAILED",
      ", max abs diff {signif(x$max_abs_diff, 3)} (tolerance {x$tolerance})"
    ),
    utils::capture.output(print(x$outputs, row.names = FALSE))
  )
}

#' @export
print.kerasexport_verification <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

check_numeric_data <- function(x, i, call = caller_env()) {
  if (is.data.frame(x)) x <- as.matrix(x)
  if (!(is.numeric(x) || is.logical(x) || is.character(x)) || length(x) == 0) {
    abort_kerasexport(
      "Element {i} of {.arg data} must be a non-empty array, matrix or data frame of numbers or text, not {.obj_type_friendly {x}}.",
      kind = "predict_input", call = call
    )
  }
  if ((is.integer(x) || is.logical(x) || is.character(x)) && anyNA(x)) {
    abort_kerasexport(
      c("Element {i} of {.arg data} holds NA.",
        i = "Give complete data to compare on: NA would reach Python as another number."),
      kind = "predict_input", call = call
    )
  }
}

# Python casts each input to the dtype the model expects.
as_input_array <- function(x) {
  if (is.data.frame(x)) {
    x <- as.matrix(x)
  }
  reticulate::r_to_py(as.array(x))
}
