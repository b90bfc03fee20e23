# R arguments become Python keyword arguments here, and only here.
#
# Rules (each tested against the real Python module in test-args.R):
# * NULL -> None; TRUE/FALSE -> bool; a lone NA -> None.
# * A length-1 whole double -> int (R users write `opset_version = 17`); a
#   fractional one stays a float.
# * A numeric vector of whole numbers and NAs -> a tuple of int/None: that
#   is a shape (`c(NA, 784)` is `(None, 784)`).
# * Other vectors longer than one -> lists; character of length 1 -> str.
# * A named list -> dict; an unnamed list -> list; converted recursively.
# * Python objects (InputSpec, TensorSpec, KerasTensor, numpy arrays) and R
#   arrays pass through reticulate untouched.
# Anything else (functions, environments, partly named lists) is an error
# that names the argument.
#
# `input_signature` has rules of its own (as_python_signature()): shapes and
# input_spec() objects become the dicts kerasexport.signatures reads, where
# they are checked against the model.

python_kwargs <- function(args, call = caller_env()) {
  if (length(args) == 0) {
    return(list())
  }
  arg_names <- names(args)
  if (is.null(arg_names) || any(!nzchar(arg_names))) {
    abort_kerasexport(
      c("Every argument in {.arg ...} must be named.",
        i = "Python keyword arguments are matched by name, e.g.
             {.code opset_version = 17}."),
      kind = "argument", call = call
    )
  }
  duplicated_names <- unique(arg_names[duplicated(arg_names)])
  if (length(duplicated_names) > 0) {
    abort_kerasexport(
      "Argument{?s} {.arg {duplicated_names}} {?is/are} given more than once.",
      kind = "argument", call = call
    )
  }
  out <- vector("list", length(args))
  names(out) <- arg_names
  for (name in arg_names) {
    value <- as_python_value(args[[name]], name, call = call)
    if (is.null(value)) {
      out[name] <- list(NULL)
    } else {
      out[[name]] <- value
    }
  }
  out
}

as_python_value <- function(x, arg, call = caller_env()) {
  if (is.null(x) || inherits(x, "python.builtin.object")) {
    return(x)
  }
  if (!is.null(dim(x))) {
    return(reticulate::r_to_py(x))
  }
  if (is.list(x)) {
    return(as_python_list(x, arg, call))
  }
  if (is.factor(x)) {
    x <- as.character(x)
  }
  if (is.logical(x) || is.numeric(x) || is.character(x)) {
    return(as_python_atomic(x, arg, call))
  }
  abort_kerasexport(
    c("{.arg {arg}} cannot be passed to Python.",
      x = "It is {.obj_type_friendly {x}}.",
      i = "Use NULL, logical, numeric, character values or (named) lists of them."),
    kind = "argument", call = call
  )
}

as_python_list <- function(x, arg, call) {
  element_names <- names(x)
  named <- !is.null(element_names) && all(nzchar(element_names))
  if (!is.null(element_names) && !named && any(nzchar(element_names))) {
    abort_kerasexport(
      c("{.arg {arg}} is a list with some elements named and some not.",
        i = "Name every element (a Python dict) or none (a Python list)."),
      kind = "argument", call = call
    )
  }
  values <- lapply(seq_along(x), function(i) {
    label <- if (named) paste0(arg, "$", element_names[[i]]) else paste0(arg, "[[", i, "]]")
    as_python_value(x[[i]], label, call)
  })
  if (named) {
    return(reticulate::py_dict(element_names, values, convert = FALSE))
  }
  reticulate::r_to_py(values)
}

as_python_atomic <- function(x, arg, call) {
  if (length(x) == 1 && is.na(x)) {
    return(NULL)
  }
  if (is.numeric(x) && is_whole(x)) {
    values <- lapply(x, function(v) if (is.na(v)) NULL else as.integer(v))
    if (length(x) == 1) {
      return(values[[1]])
    }
    return(reticulate::tuple(values))
  }
  if (anyNA(x)) {
    abort_kerasexport(
      c("{.arg {arg}} contains missing values.",
        i = "NA means \"any size\" only in a shape of whole numbers, such as
             {.code c(NA, 784)}."),
      kind = "argument", call = call
    )
  }
  if (length(x) == 1) {
    return(unname(x))
  }
  as.list(unname(x))
}

is_whole <- function(x) {
  values <- x[!is.na(x)]
  all(is.finite(values)) && all(values == trunc(values)) &&
    all(abs(values) <= .Machine$integer.max)
}

# input_signature, the R way: a shape (`c(NA, 4)`, `list(NULL, 4)`), an
# input_spec(), or a list of those (named for named inputs). Python spec
# objects pass through.
as_python_signature <- function(x, call = caller_env()) {
  if (is.null(x) || inherits(x, "python.builtin.object")) {
    return(x)
  }
  if (inherits(x, "kerasexport_input_spec") || is_shape(x)) {
    return(signature_spec(x, call = call))
  }
  if (is.list(x) && length(x) > 0) {
    if (!is.null(names(x)) && !all(nzchar(names(x)))) {
      abort_kerasexport(
        c("{.arg input_signature} is a list with some elements named and some not.",
          i = "Name every input (by the model's input names) or none (in order)."),
        kind = "input_signature", call = call
      )
    }
    elements <- lapply(seq_along(x), function(i) {
      element <- x[[i]]
      if (inherits(element, "python.builtin.object")) {
        return(element)
      }
      if (!(inherits(element, "kerasexport_input_spec") || is_shape(element))) {
        label <- if (is.null(names(x))) i else names(x)[[i]]
        abort_kerasexport(
          c("Element {.val {label}} of {.arg input_signature} is not a shape or {.fn input_spec}.",
            i = "Write each input as {.code c(NA, 4)} or {.code input_spec(c(NA, 4), dtype = \"int32\")}."),
          kind = "input_signature", call = call
        )
      }
      signature_spec(element, label = if (is.null(names(x))) i else names(x)[[i]], call = call)
    })
    if (is.null(names(x))) {
      return(reticulate::r_to_py(elements))
    }
    return(reticulate::py_dict(names(x), elements, convert = FALSE))
  }
  abort_kerasexport(
    c("{.arg input_signature} must be a shape, an {.fn input_spec} or a list of them.",
      x = "It is {.obj_type_friendly {x}}."),
    kind = "input_signature", call = call
  )
}

# A shape, written any of the ways R users write one: c(NA, 4), list(NULL,
# 4), keras3's shape(NA, 4) (a list of NULL and integers, of class
# "keras_shape").
is_shape <- function(x) {
  if (is.numeric(x) || (is.logical(x) && length(x) > 0 && all(is.na(x)))) {
    return(is.null(dim(x)) && length(x) > 0)
  }
  is.list(x) && is.null(names(x)) && length(x) > 0 &&
    all(vapply(x, function(d) is.null(d) || (is.numeric(d) || is.logical(d)) && length(d) == 1, TRUE))
}

# A shape as a numeric vector, NA for any size.
shape_dims <- function(x) {
  if (is.list(x)) vapply(x, function(d) if (is.null(d)) NA_real_ else as.numeric(d), 1) else as.numeric(x)
}

signature_spec <- function(x, label = NULL, call = caller_env()) {
  if (!inherits(x, "kerasexport_input_spec")) {
    x <- list(shape = shape_dims(x))
  }
  check_shape(x$shape, what = if (is.null(label)) "{.arg input_signature}" else
    sprintf("Input %s of {.arg input_signature}", encodeString(as.character(label), quote = "'")),
    call = call)
  # Dimensions go as numbers (None for NA): Python checks that they are whole
  # and non-negative, and names the offending one.
  shape <- lapply(as.numeric(x$shape), function(d) if (is.na(d)) NULL else d)
  reticulate::py_dict(
    c("kerasexport_spec", "shape", "dtype", "name"),
    list(TRUE, shape, x$dtype, x$name),
    convert = FALSE
  )
}

# A shape is whole numbers >= 1, with NA for "any size". Keras and its
# converters fail on 0, Inf or fractions deep inside, with their own words.
check_shape <- function(shape, what = "{.arg shape}", call = caller_env()) {
  dims <- as.numeric(shape)
  bad <- which(!is.na(dims) & !(is.finite(dims) & dims >= 1 & dims == trunc(dims)))
  if (length(bad) > 0) {
    abort_kerasexport(
      c(paste0(what, " has dimension {bad[[1]]} = {format(dims[[bad[[1]]]])}."),
        i = "Dimensions are whole numbers >= 1, or NA for any size (the batch axis first), e.g. {.code c(NA, 4)}."),
      kind = "input_signature", call = call
    )
  }
  invisible(shape)
}
