#' Install the Python packages kerasexport needs
#'
#' Creates a Python virtualenv (by default `"r-kerasexport"`, which
#' kerasexport finds by itself in later sessions) with the pinned versions of
#' Keras, the backends you choose, ONNX, onnxruntime, the converters each
#' backend needs, and the server's packages. Like `keras3::install_keras()`,
#' run it once per machine.
#'
#' What is installed (the pins are in `system.file("python",
#' "requirements.ini", package = "kerasexport")`):
#'
#' * always: Keras, NumPy, ONNX, onnxruntime, Starlette and uvicorn;
#' * per backend: `"tensorflow"` TensorFlow and tf2onnx; `"jax"` JAX,
#'   jax2onnx and TensorFlow (a SavedModel from JAX goes through jax2tf);
#'   `"torch"` PyTorch and onnxscript;
#' * with `gpu = FALSE` the CPU builds: on Linux, TensorFlow's
#'   `tensorflow-cpu` and PyTorch from PyTorch's CPU index (PyPI's PyTorch
#'   for Linux is a CUDA build of several GB); with `gpu = TRUE` the CUDA
#'   builds (`tensorflow[and-cuda]`, `jax[cuda12]`, PyPI's `torch`);
#' * when the R package keras3 is installed, what keras3 declares with
#'   `reticulate::py_require()` (SciPy, pandas, Pillow, pydot, IPython and
#'   TensorFlow), so that one Python serves both packages.
#'
#' On a CPU machine with the TensorFlow backend the environment takes about
#' 1.3 GB (1.6 GB with keras3's packages); each further backend adds
#' 0.4-0.9 GB. See the README for measured sizes.
#'
#' To use another environment instead, set the environment variable
#' `KERASEXPORT_PYTHON` to its name or path, or `RETICULATE_PYTHON` to its
#' Python, before kerasexport first uses Python.
#'
#' @param backend One or more Keras backends to install: `"tensorflow"`,
#'   `"jax"`, `"torch"`. The default is the backend in the environment
#'   variable `KERAS_BACKEND`, else `"tensorflow"` (as in keras3).
#' @param gpu `TRUE` for CUDA builds, `FALSE` for CPU builds, `NA` (the
#'   default) for CUDA builds on Linux with an NVIDIA GPU and CPU builds
#'   elsewhere.
#' @param formats Formats to install support for beyond SavedModel and ONNX,
#'   which every install has: `"openvino"` (OpenVINO) and `"litert"`
#'   (the LiteRT interpreter), each with TensorFlow, which writes them.
#' @param serving Serving support beyond REST and the Open Inference
#'   Protocol's gRPC API, which every install has: `"grpc"` for TF-Serving's
#'   gRPC API in [serve_savedmodel()] (`tensorflow-serving-api`, installed
#'   without its dependencies, and TensorFlow's CPU build).
#' @param envname Name or path of the virtualenv to create.
#' @param python_version The Python versions to choose from, as
#'   `reticulate::virtualenv_starter()` takes them, in order of preference:
#'   by default 3.11 (the version kerasexport is tested with), else the
#'   newest from 3.10 to 3.13.
#' @param python The Python to build the environment from; `NULL` takes one
#'   on this machine that satisfies `python_version`.
#' @param new_env If `TRUE`, an existing virtualenv called `envname` is
#'   removed first; if `FALSE`, the packages are installed into it.
#' @param ... Further arguments for `reticulate::virtualenv_install()`, such as
#'   `pip_options`.
#' @return The path of the environment's Python, invisibly.
#' @export
#' @examples
#' \dontrun{
#' install_kerasexport()                               # TensorFlow, CPU
#' install_kerasexport(backend = c("jax", "torch"))    # two backends
#' install_kerasexport(backend = "torch", gpu = TRUE)  # CUDA build of PyTorch
#' install_kerasexport(formats = c("openvino", "litert"))
#' }
install_kerasexport <- function(backend = Sys.getenv("KERAS_BACKEND", "tensorflow"), gpu = NA,
                                formats = character(), serving = character(),
                                envname = "r-kerasexport",
                                python_version = c("3.11", ">=3.10,<3.14"),
                                python = NULL, new_env = FALSE, ...) {
  requirements <- python_requirements(backend, gpu, keras3 = has_keras3(), formats = formats,
                                      serving = serving)
  check_string(envname)
  if (!is.character(python_version) || length(python_version) == 0 || anyNA(python_version)) {
    abort_kerasexport("{.arg python_version} must be a character vector such as {.val 3.11}, not {.obj_type_friendly {python_version}}.",
                      kind = "argument")
  }
  check_string(python, allow_null = TRUE)
  check_flag(new_env)
  python <- python %||% first_virtualenv_starter(python_version)
  if (is.null(python)) {
    abort_kerasexport(
      c("No Python {.or {python_version}} was found to build {.val {envname}} from.",
        i = "Install one with {.run reticulate::install_python(\"3.11\")}, or pass
             {.arg python}."),
      kind = "python_unavailable"
    )
  }
  if (new_env && reticulate::virtualenv_exists(envname)) {
    reticulate::virtualenv_remove(envname, confirm = FALSE)
  }
  if (!reticulate::virtualenv_exists(envname)) {
    reticulate::virtualenv_create(envname, python = python)
  }
  install_args <- list(...)
  install_args$pip_options <- c(if (length(requirements$indexes)) paste("--extra-index-url", requirements$indexes),
                                install_args$pip_options)
  do.call(reticulate::virtualenv_install,
          c(list(envname, packages = requirements$packages), install_args))
  if (length(requirements$nodeps)) {
    # Packages whose declared dependencies would pull what the others
    # replace (tensorflow-serving-api asks for PyPI's GPU tensorflow).
    nodeps_args <- install_args
    nodeps_args$pip_options <- c("--no-deps", install_args$pip_options)
    do.call(reticulate::virtualenv_install,
            c(list(envname, packages = requirements$nodeps), nodeps_args))
  }
  python <- reticulate::virtualenv_python(envname)
  size <- folder_size(dirname(dirname(python)))
  cli::cli_inform(c(
    v = "Installed kerasexport's Python packages for {.val {requirements$backend}}
         ({if (requirements$gpu) 'GPU' else 'CPU'} builds) in {.path {dirname(dirname(python))}}:
         {format(structure(size, class = 'object_size'), units = 'auto', standard = 'SI')}.",
    i = "Restart R so that kerasexport uses it."
  ), class = "kerasexport_installed")
  invisible(python)
}

# The packages and extra package indexes for `backend` (one or more), CPU or
# GPU builds, read from requirements.ini; with `keras3`, also what keras3
# needs.
python_requirements <- function(backend = "tensorflow", gpu = NA, keras3 = FALSE,
                                formats = character(), serving = character(),
                                os = Sys.info()[["sysname"]], call = caller_env()) {
  extra_serving <- "grpc"
  if (!is.character(serving) || anyNA(serving) || !all(serving %in% extra_serving)) {
    abort_kerasexport(
      c("{.arg serving} must name {.or {.val {extra_serving}}}, not {.obj_type_friendly {serving}}.",
        i = "REST and the Open Inference Protocol's gRPC API come with every install."),
      kind = "argument", call = call
    )
  }
  extra_formats <- c("openvino", "litert")
  if (!is.character(formats) || anyNA(formats) || !all(formats %in% extra_formats)) {
    abort_kerasexport(
      c("{.arg formats} must name formats among {.or {.val {extra_formats}}}, not {.obj_type_friendly {formats}}.",
        i = "SavedModel and ONNX come with every install."),
      kind = "argument", call = call
    )
  }
  backends <- c("tensorflow", "jax", "torch")
  if (!is.character(backend) || length(backend) == 0 || anyNA(backend) ||
      !all(backend %in% backends)) {
    abort_kerasexport(
      c("{.arg backend} must be one or more of {.or {.val {backends}}}, not {.obj_type_friendly {backend}}.",
        i = if (is.character(backend)) "Unknown: {.val {setdiff(backend, backends)}}."),
      kind = "argument", call = call
    )
  }
  if (!(is.logical(gpu) && length(gpu) == 1)) {
    abort_kerasexport("{.arg gpu} must be {.code TRUE}, {.code FALSE} or {.code NA}, not {.obj_type_friendly {gpu}}.",
                      kind = "argument", call = call)
  }
  if (is.na(gpu)) {
    gpu <- os == "Linux" && has_nvidia_gpu()
  }
  groups <- requirement_groups()
  chosen <- c("core", if (keras3) "keras3",
              paste0(unique(backend), if (gpu) "-gpu" else ""), unique(formats), unique(serving))
  packages <- unique(unlist(lapply(groups[chosen], `[[`, "packages"), use.names = FALSE))
  nodeps <- unique(unlist(lapply(groups[chosen], `[[`, "nodeps"), use.names = FALSE))
  indexes <- unique(unlist(lapply(groups[chosen], `[[`, "index"), use.names = FALSE))
  if (os != "Linux" && os != "Windows") {
    # macOS: no tensorflow-cpu, and PyPI's torch is the CPU build.
    packages <- sub("^tensorflow-cpu==", "tensorflow==", packages)
    packages <- sub("\\+cpu$", "", packages)
    indexes <- NULL
  } else if (os == "Windows") {
    packages <- sub("^tensorflow-cpu==", "tensorflow==", packages)
  }
  if (gpu) {
    # A CUDA build replaces the CPU one that another group asked for.
    gpu_names <- sub("\\[.*$", "", requirement_names(packages[grepl("\\[(and-cuda|cuda12)\\]", packages)]))
    packages <- packages[!(requirement_names(packages) %in% paste0(gpu_names, "-cpu"))]
  }
  list(backend = unique(backend), gpu = gpu, packages = packages, indexes = indexes,
       nodeps = nodeps)
}

requirement_groups <- function() {
  lines <- readLines(system.file("python", "requirements.ini", package = "kerasexport"))
  lines <- trimws(sub("#.*$", "", lines))
  lines <- lines[nzchar(lines)]
  groups <- list()
  group <- NULL
  for (line in lines) {
    if (grepl("^\\[.+\\]$", line)) {
      group <- sub("^\\[(.+)\\]$", "\\1", line)
      groups[[group]] <- list(packages = character(), index = character(), nodeps = character())
    } else if (grepl("^index *=", line)) {
      groups[[group]]$index <- c(groups[[group]]$index, trimws(sub("^index *=", "", line)))
    } else if (grepl("^nodeps *=", line)) {
      groups[[group]]$nodeps <- c(groups[[group]]$nodeps, trimws(sub("^nodeps *=", "", line)))
    } else {
      groups[[group]]$packages <- c(groups[[group]]$packages, line)
    }
  }
  groups
}

# "tensorflow[and-cuda]==2.21.0" -> "tensorflow[and-cuda]"
requirement_names <- function(packages) sub("[=<>!~].*$", "", packages)

first_virtualenv_starter <- function(versions) {
  for (version in versions) {
    python <- reticulate::virtualenv_starter(version)
    if (!is.null(python)) return(python)
  }
  NULL
}

has_keras3 <- function() nzchar(system.file(package = "keras3"))

has_nvidia_gpu <- function() {
  listed <- tryCatch(
    suppressWarnings(system2("nvidia-smi", "-L", stdout = TRUE, stderr = FALSE)),
    error = function(e) character()
  )
  any(grepl("^GPU [0-9]+: ", listed))
}

# Bytes in the files under `path`, not following symbolic links (a
# virtualenv's lib64 is a link to lib).
folder_size <- function(path) {
  entries <- list.files(path, all.files = TRUE, no.. = TRUE, full.names = TRUE)
  entries <- entries[!nzchar(Sys.readlink(entries))]
  info <- file.info(entries, extra_cols = FALSE)
  folders <- entries[info$isdir %in% TRUE]
  sum(info$size[info$isdir %in% FALSE]) + sum(vapply(folders, folder_size, 0))
}
