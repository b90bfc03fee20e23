# Which export_savedmodel() method runs when the real tensorflow and keras3
# packages are around, in each load order, each in a fresh R process. The
# method's identity is compared, and dispatch is tried for real with an
# object of the Keras model class (no Python needed).

which_method_runs <- function(load_order) {
  callr::r(
    function(load_order) {
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
    args = list(load_order = load_order)
  )
}

test_that("kerasexport's method wins whatever the load order", {
  skip_in_second_load_order()
  skip_on_cran()
  skip_if_no_keras3()
  orders <- list(
    c("kerasexport", "keras3"),
    c("keras3", "kerasexport"),
    c("kerasexport", "tensorflow"),
    c("tensorflow", "kerasexport")
  )
  for (order in orders) {
    result <- which_method_runs(order)
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
