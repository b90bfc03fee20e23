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
