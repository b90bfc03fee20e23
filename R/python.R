# The only file that touches the bundled Python package. It is imported
# lazily: nothing Python starts at library(kerasexport).

# Package state that changes after loading (a namespace's own bindings are
# locked): the bridge module, and which notices were given.
the <- new.env(parent = emptyenv())
the$bridge <- NULL
the$told_replaced <- list()

load_python_module <- function() {
  if (reticulate::py_available(initialize = FALSE)) {
    # Python is already running (keras3 started it, say): import on first
    # use, so that library(kerasexport) never fails on what Python lacks.
    return(invisible())
  }
  path <- python_package_path()
  # reticulate::import_from_path(delay_load = list(environment = ...)) drops
  # `environment` (reticulate 1.41-1.46), so the environment would never be
  # looked for: import() itself registers it, and the hooks put the bundled
  # package on sys.path for the import, as import_from_path() does.
  the$bridge <- reticulate::import(
    "kerasexport.bridge",
    convert = FALSE,
    delay_load = list(
      environment = python_environment(),
      before_load = function() python_path_insert(path),
      on_load = function() python_path_remove(path),
      on_error = function(error) python_path_remove(path)
    )
  )
}

python_package_path <- function() system.file("python", package = "kerasexport")

# Declare kerasexport's Python needs to reticulate, as keras3 does, so that
# reticulate's managed environment (used when no environment of kerasexport,
# keras3 or tensorflow exists) has them: Keras, ONNX, onnxruntime, the
# server's packages, and the backend and converters for KERAS_BACKEND (CPU
# builds). It only records them: nothing is installed at library().
declare_python_requirements <- function() {
  if (reticulate::py_available(initialize = FALSE)) {
    return(invisible())
  }
  backend <- sub("-(cpu|gpu)$", "", Sys.getenv("KERAS_BACKEND", "tensorflow"))
  if (!backend %in% c("tensorflow", "jax", "torch")) {
    return(invisible())
  }
  requirements <- python_requirements(backend, gpu = FALSE)
  if (length(requirements$indexes)) {
    # uv reads extra indexes from UV_INDEX, as keras3 sets it for torch.
    indexes <- strsplit(Sys.getenv("UV_INDEX"), " ", fixed = TRUE)[[1]]
    Sys.setenv(UV_INDEX = paste(unique(c(indexes[nzchar(indexes)], requirements$indexes)), collapse = " "))
  }
  reticulate::py_require(requirements$packages)
}

# Where to look for Python when the user has not chosen one: the virtualenv
# named by KERASEXPORT_PYTHON, else "r-kerasexport" (the one
# install_kerasexport() and the project's set-up make), the way keras3 looks
# for "r-keras". reticulate tries it after the environments of packages with
# a higher priority (keras3's "r-keras", tensorflow's "r-tensorflow"), when
# they exist, and before its own managed environment.
python_environment <- function() {
  chosen <- Sys.getenv("KERASEXPORT_PYTHON")
  if (nzchar(chosen)) chosen else "r-kerasexport"
}

python_path_insert <- function(path) {
  reticulate::import("sys", convert = FALSE)$path$insert(0L, path)
}

python_path_remove <- function(path) {
  sys_path <- reticulate::import("sys", convert = FALSE)$path
  if (reticulate::py_bool(sys_path$`__contains__`(path))) sys_path$remove(path)
}

#' Is Python with Keras available to kerasexport?
#'
#' `TRUE` when a Python with Keras 3 can be found (or is already in use) and
#' kerasexport's Python module loads. Use it to skip code, as the examples in
#' this package do. It initializes Python if it was not yet.
#'
#' @return `TRUE` or `FALSE`.
#' @export
#' @examples
#' kerasexport_available()
kerasexport_available <- function() {
  tryCatch(
    {
      python_module()
      reticulate::py_module_available("keras")
    },
    error = function(e) FALSE
  )
}

python_module <- function(call = caller_env()) {
  tryCatch(
    {
      if (is.null(the$bridge)) {
        the$bridge <- reticulate::import_from_path(
          "kerasexport.bridge", path = python_package_path(), convert = FALSE)
      }
      reticulate::py_get_attr(the$bridge, "__name__")
      the$bridge
    },
    error = function(e) {
      abort_kerasexport(
        c("Python with Keras 3 is not available to kerasexport.",
          i = "Run {.run kerasexport::install_kerasexport()} once, or point
               {.envvar RETICULATE_PYTHON} at a Python that has Keras 3."),
        kind = "python_unavailable", call = call, parent = e
      )
    }
  )
}

# Call public function `name` of the Python package with already converted
# arguments (see args.R), through kerasexport.bridge; replay what it printed
# as R messages and warnings, and turn a Python exception into a classed R
# error.
call_python <- function(name, args = list(), call = caller_env()) {
  bridge <- python_module(call = call)
  kwargs <- reticulate::py_dict(names(args) %||% character(), unname(args), convert = FALSE)
  result <- tryCatch(
    bridge$call(name, kwargs),
    python.builtin.BaseException = function(error) {
      exception <- python_exception(error)
      replay_python_output(py_attr(exception, "kerasexport_captured"))
      abort_from_python(error, call = call)
    }
  )
  result <- reticulate::py_to_r(result)
  replay_python_output(result[["captured"]])
  result[["value"]]
}

# What Python printed becomes one R message (so knitr and suppressMessages()
# handle it), and each Python warning an R warning, or a message when it is
# about library internals that the user cannot act on.
replay_python_output <- function(captured) {
  if (is.null(captured)) {
    return(invisible())
  }
  lines <- unlist(captured[["output"]])
  if (length(lines) > 0) {
    python_message(paste(lines, collapse = "\n"), class = "kerasexport_python_output")
  }
  for (w in captured[["warnings"]]) {
    text <- paste0("Python ", w$category, ": ", w$message)
    if (isTRUE(w$internal)) {
      python_message(text, class = "kerasexport_python_warning")
    } else {
      rlang::warn(text, class = "kerasexport_python_warning")
    }
  }
  invisible()
}

# A plain classed message. Python's text needs no formatting, and
# rlang::inform() formats with cli even when the message is suppressed: about
# 0.5 ms a message, and a torch export replays several.
python_message <- function(text, class) {
  message(structure(class = c(class, "message", "condition"),
                    list(message = paste0(text, "\n"), call = NULL)))
}

# A public method of an object the Python package returned, as an R
# function for a hot path (predict()): looked up once, called without the
# bridge's output capture (the method prints nothing, and redirecting file
# descriptors costs more than a small model's prediction), its result
# converted to R. A Python exception still becomes a classed R error.
bind_python_method <- function(object, name) {
  stopifnot(!startsWith(name, "_"))
  method <- reticulate::py_get_attr(object, name)
  function(..., call = caller_env()) {
    tryCatch(
      reticulate::py_to_r(reticulate::py_call(method, ...)),
      python.builtin.BaseException = function(error) abort_from_python(error, call = call)
    )
  }
}
