# Argument checkers, in the r-lib style: each names the argument and the
# caller, and raises a `kerasexport_error_argument`.

check_string <- function(x, allow_null = FALSE, arg = rlang::caller_arg(x),
                         call = caller_env()) {
  if (is.null(x) && allow_null) {
    return(invisible(x))
  }
  if (!(is.character(x) && length(x) == 1 && !is.na(x) && nzchar(x))) {
    abort_kerasexport(
      "{.arg {arg}} must be a single string, not {.obj_type_friendly {x}}.",
      kind = "argument", call = call
    )
  }
  invisible(x)
}

check_flag <- function(x, allow_null = FALSE, arg = rlang::caller_arg(x),
                       call = caller_env()) {
  if (is.null(x) && allow_null) {
    return(invisible(x))
  }
  if (!(is.logical(x) && length(x) == 1 && !is.na(x))) {
    allowed <- if (allow_null) "{.code TRUE}, {.code FALSE} or {.code NULL}" else "{.code TRUE} or {.code FALSE}"
    abort_kerasexport(
      paste0("{.arg {arg}} must be ", allowed, ", not {.obj_type_friendly {x}}."),
      kind = "argument", call = call
    )
  }
  invisible(x)
}

# One of `choices`; the whole vector (the function's default) means the first,
# as match.arg() has it.
check_choice <- function(x, choices, arg = rlang::caller_arg(x), call = caller_env()) {
  if (identical(x, choices)) {
    return(choices[[1]])
  }
  if (!(is.character(x) && length(x) == 1 && x %in% choices)) {
    abort_kerasexport(
      "{.arg {arg}} must be {.or {.val {choices}}}, not {.obj_type_friendly {x}}.",
      kind = "argument", call = call
    )
  }
  x
}

check_number <- function(x, min = 0, whole = FALSE, arg = rlang::caller_arg(x),
                         call = caller_env()) {
  ok <- is.numeric(x) && length(x) == 1 && !is.na(x) && is.finite(x) && x >= min &&
    (!whole || x == trunc(x))
  if (!ok) {
    what <- if (whole) "a whole number" else "a finite number"
    abort_kerasexport(
      "{.arg {arg}} must be {what} >= {min}, not {.obj_type_friendly {x}}{number_shown(x)}.",
      kind = "argument", call = call
    )
  }
  invisible(x)
}

# " (0.5)" after a type, when the value itself says what was wrong.
number_shown <- function(x) {
  if (is.numeric(x) && length(x) == 1 && !is.na(x)) paste0(" (", format(x), ")") else ""
}

# An absolute path, resolved against R's working directory (Python's may
# differ) with `~` expanded.
check_path <- function(x, must_exist = FALSE, arg = rlang::caller_arg(x),
                       call = caller_env()) {
  check_string(x, arg = arg, call = call)
  path <- path.expand(x)
  if (!grepl("^(/|[A-Za-z]:[/\\\\]|\\\\\\\\)", path)) {
    path <- file.path(getwd(), path)
  }
  parent <- dirname(path)
  if (dir.exists(parent)) {
    path <- file.path(normalizePath(parent, mustWork = TRUE), basename(path))
  }
  if (must_exist && !file.exists(path)) {
    abort_kerasexport(
      "{.arg {arg}} names {.path {path}}, which does not exist.",
      kind = "artifact", call = call
    )
  }
  path
}

check_version <- function(x, arg = rlang::caller_arg(x), call = caller_env()) {
  ok <- is.null(x) || identical(x, "auto") ||
    (is.numeric(x) && length(x) == 1 && !is.na(x) && x >= 1 && x == trunc(x) &&
       x <= .Machine$integer.max)
  if (!ok) {
    abort_kerasexport(
      c("{.arg {arg}} must be a whole number >= 1, {.val auto} or {.code NULL}, not {.obj_type_friendly {x}}.",
        i = "TF-Serving reads versions as folder names 1, 2, 3, ..."),
      kind = "argument", call = call
    )
  }
  invisible(x)
}

check_keras_model <- function(x, arg = rlang::caller_arg(x), call = caller_env()) {
  if (!inherits(x, "keras.src.models.model.Model")) {
    abort_kerasexport(
      c("{.arg {arg}} must be a Keras 3 model, not {.obj_type_friendly {x}}.",
        i = "Build or load the model with keras3 or {.code reticulate::import(\"keras\")}."),
      kind = "invalid_model", call = call
    )
  }
  invisible(x)
}

precisions <- c("float32", "bfloat16", "float16")

check_precision <- function(x, arg = rlang::caller_arg(x), call = caller_env()) {
  check_choice(x, precisions, arg = arg, call = call)
}
