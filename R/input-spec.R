#' Describe a model input for `input_signature`
#'
#' `input_spec()` describes one input of a model the way an R user thinks of
#' it: a shape, with `NA` for "any size" (the batch size, usually), a dtype
#' and a name. Give one to [export_savedmodel()]'s `input_signature`, or a
#' list of them for a model with several inputs (named after the model's
#' inputs, or in their order). A plain shape such as `c(NA, 784)` works too.
#'
#' @param shape The input's shape, batch axis first: a numeric vector of
#'   whole numbers with `NA` for any size, e.g. `c(NA, 28, 28, 1)`; or the
#'   same as a list with `NULL` for any size (`list(NULL, 28, 28, 1)`), or
#'   keras3's `shape(NA, 28, 28, 1)`.
#' @param dtype The input's dtype, e.g. `"float32"`, `"int32"`; `NULL` takes
#'   the model's input dtype.
#' @param name The input's name; `NULL` takes the model's name for it.
#' @return An object of class `kerasexport_input_spec`.
#' @export
#' @examples
#' input_spec(c(NA, 28, 28, 1), dtype = "float32", name = "image")
#' input_spec(c(NA, 100), dtype = "int32", name = "tokens")
input_spec <- function(shape, dtype = NULL, name = NULL) {
  if (!is_shape(shape)) {
    abort_kerasexport(
      c("{.arg shape} must be a shape such as {.code c(NA, 784)}, {.code list(NULL, 784)} or keras3's {.code shape(NA, 784)}.",
        x = "It is {.obj_type_friendly {shape}}."),
      kind = "input_signature"
    )
  }
  shape <- shape_dims(shape)
  check_shape(shape)
  check_string(dtype, allow_null = TRUE)
  check_string(name, allow_null = TRUE)
  structure(list(shape = shape, dtype = dtype, name = name),
            class = "kerasexport_input_spec")
}

#' @export
format.kerasexport_input_spec <- function(x, ...) {
  shape <- paste0("(", paste(ifelse(is.na(x$shape), "NA", format(x$shape, trim = TRUE)),
                             collapse = ", "), ")")
  paste0("<input_spec> ", if (!is.null(x$name)) paste0(x$name, ": ") else "",
         shape, " ", x$dtype %||% "<model's dtype>")
}

#' @export
print.kerasexport_input_spec <- function(x, ...) {
  cat(format(x, ...), "\n", sep = "")
  invisible(x)
}
