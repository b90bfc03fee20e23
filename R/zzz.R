.onLoad <- function(libname, pkgname) {
  # TensorFlow's C++ INFO logs (oneDNN, CPU features) go straight to the
  # process's stderr, where R reports and knitr cannot catch them. Hide them,
  # as the tensorflow R package does, unless the user chose a level.
  if (!nzchar(Sys.getenv("TF_CPP_MIN_LOG_LEVEL"))) {
    Sys.setenv(TF_CPP_MIN_LOG_LEVEL = "1")
  }
  declare_python_requirements()
  load_python_module()
  set_registration_hooks()
  register_on_tensorflow()
}

.onUnload <- function(libpath) {
  for (package in c("tensorflow", "keras3")) {
    hooks <- getHook(packageEvent(package, "onLoad"))
    keep <- Filter(function(f) !identical(f, register_on_tensorflow), hooks)
    setHook(packageEvent(package, "onLoad"), keep, action = "replace")
  }
}
