# Which export_savedmodel() method runs when tensorflow and keras3 are around.
# Debian has neither package, so stand-ins that reproduce their S3 set-up
# (fixtures/stub-packages) are installed into a temporary library, and each
# load order runs in a fresh R process. The method's identity is compared, so
# no Python is needed.

install_stub_packages <- function() {
  lib <- withr::local_tempdir(.local_envir = parent.frame())
  for (package in c("tensorflow", "keras3")) {
    source <- test_path("fixtures", "stub-packages", package)
    output <- system2(file.path(R.home("bin"), "R"),
                      c("CMD", "INSTALL", "--no-test-load", "-l", shQuote(lib), shQuote(source)),
                      stdout = TRUE, stderr = TRUE)
    if (!dir.exists(file.path(lib, package))) stop(paste(output, collapse = "\n"))
  }
  lib
}

which_method_runs <- function(lib, load_order) {
  callr::r(
    function(lib, load_order) {
      .libPaths(c(lib, .libPaths()))
      messages <- character()
      withCallingHandlers(
        for (package in load_order) library(package, character.only = TRUE),
        message = function(m) {
          messages <<- c(messages, conditionMessage(m))
          invokeRestart("muffleMessage")
        }
      )
      ours <- getFromNamespace("export_savedmodel.keras.src.models.model.Model", "kerasexport")
      on_tensorflow <- getS3method("export_savedmodel", "keras.src.models.model.Model",
                                   envir = asNamespace("tensorflow"))
      model <- structure(list(), class = c("keras.src.models.sequential.Sequential",
                                           "keras.src.models.model.Model"))
      # Dispatch for real through each generic on the search path; our method
      # fails on this fake model inside Python argument checks, which is how
      # we know it was reached.
      reached <- function(generic) {
        tryCatch(generic(model, 1), kerasexport_error = function(e) "kerasexport")
      }
      list(
        tensorflow_has_ours = identical(on_tensorflow, ours),
        via_tensorflow = reached(tensorflow::export_savedmodel),
        via_search_path = reached(export_savedmodel),
        via_kerasexport = reached(kerasexport::export_savedmodel),
        messages = messages
      )
    },
    args = list(lib = lib, load_order = load_order)
  )
}

test_that("kerasexport's method wins whatever the load order", {
  skip_on_cran()
  lib <- install_stub_packages()
  orders <- list(
    c("kerasexport", "keras3"),
    c("keras3", "kerasexport"),
    c("kerasexport", "tensorflow"),
    c("tensorflow", "kerasexport")
  )
  for (order in orders) {
    result <- which_method_runs(lib, order)
    label <- paste(order, collapse = " then ")
    expect_true(result$tensorflow_has_ours, label = label)
    expect_equal(result$via_tensorflow, "kerasexport", label = label)
    expect_equal(result$via_search_path, "kerasexport", label = label)
    expect_equal(result$via_kerasexport, "kerasexport", label = label)
    replaced <- grep("replaces the one from keras3", result$messages, value = TRUE)
    expect_length(replaced, if ("keras3" %in% order) 1 else 0)
  }
})

test_that("without tensorflow, kerasexport's own generic dispatches", {
  model <- structure(list(), class = "keras.src.models.model.Model")
  expect_error(export_savedmodel(model, 1), class = "kerasexport_error_argument")
})
