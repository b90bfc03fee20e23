#' Install the Python packages kerasexport needs
#'
#' Creates a Python virtualenv (by default named `"r-kerasexport"`, which
#' kerasexport finds by itself in later sessions) with the pinned versions of
#' Keras, TensorFlow, JAX, PyTorch (CPU build), ONNX, onnxruntime and the
#' converters, listed in `system.file("python", "requirements.txt", package =
#' "kerasexport")`. Like `keras3::install_keras()`, run it once per machine.
#'
#' To use another environment instead, set the environment variable
#' `KERASEXPORT_PYTHON` to its name or path, or `RETICULATE_PYTHON` to its
#' Python, before kerasexport first uses Python.
#'
#' @param envname Name or path of the virtualenv to create.
#' @param python The Python to build it from; `NULL` lets reticulate choose
#'   one (Python >= 3.10 is needed).
#' @param new_env If `TRUE`, an existing virtualenv called `envname` is
#'   removed first; if `FALSE`, the packages are installed into it.
#' @param ... Further arguments for [reticulate::virtualenv_install()], such
#'   as `pip_options`.
#' @return The path of the environment's Python, invisibly.
#' @export
#' @examples
#' \dontrun{
#' install_kerasexport()
#' }
install_kerasexport <- function(envname = "r-kerasexport", python = NULL,
                                new_env = FALSE, ...) {
  check_string(envname)
  check_flag(new_env)
  requirements <- system.file("python", "requirements.txt", package = "kerasexport")
  if (new_env && reticulate::virtualenv_exists(envname)) {
    reticulate::virtualenv_remove(envname, confirm = FALSE)
  }
  if (!reticulate::virtualenv_exists(envname)) {
    reticulate::virtualenv_create(envname, python = python)
  }
  reticulate::virtualenv_install(envname, requirements = requirements, ...)
  cli::cli_inform(c(
    v = "Installed kerasexport's Python packages in {.path {envname}}.",
    i = "Restart R so that kerasexport uses it."
  ))
  invisible(reticulate::virtualenv_python(envname))
}
