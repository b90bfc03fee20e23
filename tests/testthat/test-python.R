test_that("library(kerasexport) does not start Python", {
  skip_unless_backend("tensorflow")
  started <- run_fresh_r(function() {
    library(kerasexport)
    reticulate::py_available(initialize = FALSE)
  })
  expect_false(started)
})

test_that("the installed environment is found from any folder with no variables set", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  env <- callr::rcmd_safe_env()
  python <- run_fresh_r(function() {
    Sys.unsetenv(c("RETICULATE_PYTHON", "VIRTUAL_ENV", "KERASEXPORT_PYTHON"))
    stopifnot(kerasexport::kerasexport_available())
    reticulate::py_config()$python
  }, wd = withr::local_tempdir())
  expect_match(python, "python")
  expect_true(file.exists(python))
})

test_that("a Python exception that kerasexport does not know is still classed", {
  skip_if_no_python()
  error <- expect_error(
    kerasexport:::call_python("export_model", list()),
    class = "kerasexport_error_python"
  )
  expect_equal(error$python_type, "TypeError")
})

test_that("install_kerasexport() checks its arguments before touching anything", {
  expect_error(install_kerasexport(envname = 42), class = "kerasexport_error_argument")
  expect_error(install_kerasexport(new_env = "yes"), class = "kerasexport_error_argument")
})

test_that("install_kerasexport() checks backend, gpu and python_version", {
  expect_error(install_kerasexport(backend = "theano"), class = "kerasexport_error_argument")
  expect_error(install_kerasexport(backend = character()), class = "kerasexport_error_argument")
  expect_error(install_kerasexport(gpu = "no"), class = "kerasexport_error_argument")
  expect_error(install_kerasexport(python_version = 3.11), class = "kerasexport_error_argument")
})

test_that("the default install is small: one backend, CPU builds", {
  requirements <- kerasexport:::python_requirements(gpu = FALSE, os = "Linux")
  names <- kerasexport:::requirement_names(requirements$packages)
  expect_equal(requirements$backend, "tensorflow")
  expect_true(all(c("keras", "tensorflow-cpu", "tf2onnx", "onnx", "onnxruntime") %in% names))
  expect_false(any(c("jax", "jax[cpu]", "torch", "tensorflow", "tensorflow[and-cuda]") %in% names))
  expect_length(requirements$indexes, 0)
  # Every package is pinned.
  expect_true(all(grepl("==", requirements$packages)))
})

test_that("torch on a CPU machine comes from PyTorch's CPU index, not PyPI's CUDA build", {
  cpu <- kerasexport:::python_requirements("torch", gpu = FALSE, os = "Linux")
  expect_true("torch==2.13.0+cpu" %in% cpu$packages)
  expect_equal(cpu$indexes, "https://download.pytorch.org/whl/cpu")
  gpu <- kerasexport:::python_requirements("torch", gpu = TRUE, os = "Linux")
  expect_true("torch==2.13.0" %in% gpu$packages)
  expect_length(gpu$indexes, 0)
  mac <- kerasexport:::python_requirements(c("tensorflow", "torch"), gpu = FALSE, os = "Darwin")
  expect_true(all(c("torch==2.13.0", "tensorflow==2.21.0") %in% mac$packages))
  expect_length(mac$indexes, 0)
})

test_that("a GPU install takes the CUDA builds and drops the CPU ones they replace", {
  gpu <- kerasexport:::python_requirements(c("tensorflow", "jax"), gpu = TRUE, keras3 = TRUE, os = "Linux")
  names <- kerasexport:::requirement_names(gpu$packages)
  expect_true(all(c("tensorflow[and-cuda]", "jax[cuda12]") %in% names))
  expect_false("tensorflow-cpu" %in% names)
})

test_that("with keras3, the environment holds what keras3 declares with py_require()", {
  skip_if_no_keras3()
  skip_unless_backend("tensorflow")
  declared <- run_fresh_r(function() {
    library(keras3)
    reticulate::py_require()$packages
  }, env = c(KERAS_BACKEND = "tensorflow"))
  bare <- function(x) tolower(sub("[=<>!~[].*$", "", x))
  ours <- kerasexport:::python_requirements("tensorflow", gpu = FALSE, keras3 = TRUE, os = "Linux")
  expect_true(all(bare(declared) %in% bare(ours$packages)),
              label = paste("missing:", paste(setdiff(bare(declared), bare(ours$packages)), collapse = ", ")))
})

test_that("library(kerasexport) declares its Python needs to reticulate, without starting Python", {
  skip_unless_backend("tensorflow")
  declared <- run_fresh_r(function() {
    library(kerasexport)
    list(packages = reticulate::py_require()$packages,
         started = reticulate::py_available(initialize = FALSE))
  }, env = c(KERAS_BACKEND = "torch"))
  expect_false(declared$started)
  expect_true(all(c("keras==3.15.1", "onnxruntime==1.32.0", "torch==2.13.0+cpu", "onnxscript==0.7.2")
                  %in% declared$packages))
})

test_that("the default CPU environment resolves without any CUDA package", {
  skip_in_second_load_order()
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  skip_on_cran()
  requirements <- kerasexport:::python_requirements(gpu = FALSE, keras3 = TRUE, os = "Linux")
  report <- withr::local_tempfile(fileext = ".json")
  # pip resolves the whole tree, as install_kerasexport() would, and installs nothing.
  resolve <- processx::run(
    reticulate::py_exe(),
    c("-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
      "--disable-pip-version-check", "--report", report, requirements$packages),
    error_on_status = FALSE
  )
  expect_equal(resolve$status, 0L, info = resolve$stderr)
  resolved <- vapply(jsonlite::fromJSON(report, simplifyVector = FALSE)$install,
                     function(p) gsub("[_.]", "-", tolower(p$metadata$name)), "")
  expect_true(all(c("keras", "tensorflow-cpu", "onnxruntime", "pandas") %in% resolved))
  expect_false(any(grepl("^nvidia-|^torch$|^jax", resolved)))
})
