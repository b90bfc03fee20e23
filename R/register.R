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

tensorflow_export_savedmodel <- function() {
  package <- "tensorflow"
  if (!requireNamespace(package, quietly = TRUE)) {
    return(NULL)
  }
  getExportedValue(package, "export_savedmodel")
}

register_on_tensorflow <- function(...) {
  namespace <- "tensorflow"
  if (!isNamespaceLoaded(namespace)) {
    return(invisible(FALSE))
  }
  tensorflow <- asNamespace(namespace)
  method <- export_savedmodel.keras.src.models.model.Model
  table <- get(".__S3MethodsTable__.", envir = tensorflow)
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

the <- new.env(parent = emptyenv())
the$told_replaced <- list()
