# Which export_savedmodel() method runs for Keras models.
#
# kerasexport always exports its own generic export_savedmodel() with its
# method registered in NAMESPACE, so the package works where the R package
# tensorflow is not installed. When tensorflow is loaded (now or later), the
# same method is also registered on tensorflow::export_savedmodel(), which
# keras3 re-exports, so that every spelling of the call reaches it.
#
# keras3 registers its own method for the same class on that generic, from
# its NAMESPACE. R's S3 registry keeps the last registration, so the order of
# loading decides, and we make kerasexport win either way:
# * keras3 loaded first: tensorflow is loaded too (keras3 imports it), so our
#   .onLoad registers over keras3's at once.
# * keras3 loaded later: loadNamespace("keras3") registers its S3 methods
#   before it runs the user hooks for packageEvent("keras3", "onLoad"); our
#   hook, set in .onLoad, then registers ours again on top.
# * tensorflow loaded later without keras3: the packageEvent hook for
#   tensorflow registers ours when it loads.
# Each replacement of another package's method is said once per session, as
# a package startup message (suppressPackageStartupMessages() hides it).

keras_model_class <- "keras.src.models.model.Model"

# The tensorflow package's own method for `object`'s class (it has one for
# TensorFlow 1 sessions), or NULL. Only Python objects can have one, so a
# plain R object never loads tensorflow.
tensorflow_method_for <- function(object) {
  if (!inherits(object, "python.builtin.object") ||
      !requireNamespace("tensorflow", quietly = TRUE)) {
    return(NULL)
  }
  table <- get(".__S3MethodsTable__.", envir = asNamespace("tensorflow"))
  ours <- list(export_savedmodel.keras.src.models.model.Model, export_savedmodel.default)
  for (class in class(object)) {
    method <- get0(paste0("export_savedmodel.", class), envir = table, inherits = FALSE)
    if (!is.null(method) && !any(vapply(ours, identical, TRUE, method))) {
      return(method)
    }
  }
  NULL
}

register_on_tensorflow <- function(...) {
  namespace <- "tensorflow"
  if (!isNamespaceLoaded(namespace)) {
    return(invisible(FALSE))
  }
  tensorflow <- asNamespace(namespace)
  table <- get(".__S3MethodsTable__.", envir = tensorflow)
  # tensorflow's generic has no default: ours gives an object that is not a
  # Keras model the classed error instead of "no applicable method".
  if (is.null(get0("export_savedmodel.default", envir = table, inherits = FALSE))) {
    registerS3method("export_savedmodel", "default", export_savedmodel.default, envir = tensorflow)
  }
  method <- export_savedmodel.keras.src.models.model.Model
  previous <- get0(paste0("export_savedmodel.", keras_model_class), envir = table, inherits = FALSE)
  if (identical(previous, method)) {
    return(invisible(TRUE))
  }
  registerS3method("export_savedmodel", keras_model_class, method, envir = tensorflow)
  if (!is.null(previous)) {
    tell_replaced(environmentName(environment(previous)))
  }
  invisible(TRUE)
}

tell_replaced <- function(owner) {
  if (isTRUE(the$told_replaced[[owner]])) {
    return(invisible())
  }
  the$told_replaced[[owner]] <- TRUE
  text <- sprintf(
    "kerasexport's export_savedmodel() method for Keras models replaces the one from %s.",
    if (nzchar(owner)) owner else "another package"
  )
  message(structure(
    class = c("kerasexport_method_replaced", "packageStartupMessage",
              "simpleMessage", "message", "condition"),
    list(message = paste0(text, "\n"), call = NULL)
  ))
}

set_registration_hooks <- function() {
  for (package in c("tensorflow", "keras3")) {
    setHook(packageEvent(package, "onLoad"), register_on_tensorflow, action = "append")
  }
}
