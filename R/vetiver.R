# vetiver (Posit's package to version, pin, serve and monitor models) for
# keras3 models. vetiver's own Keras methods are for the legacy keras
# package's class; these are for Keras 3's, and they hand vetiver a
# kerasexport artifact instead of the model: pinned, bundled and served, it
# needs neither Keras nor the model's code, only kerasexport and the
# format's runtime. The methods are registered when vetiver (or bundle)
# loads, from NAMESPACE.

#' Version, pin and serve keras3 models with vetiver
#'
#' With the vetiver package, a Keras 3 model goes through vetiver's own
#' steps as vetiver's documentation shows them: `vetiver_model()`,
#' `predict()`, `vetiver_pin_write()` and `vetiver_pin_read()`, `vetiver_api()`
#' on a plumber router, `vetiver_endpoint()`, `vetiver_write_plumber()`.
#' kerasexport supplies the methods vetiver dispatches on. When the vetiver
#' model is made, the Keras model is exported to a standalone artifact and
#' verified; the artifact, not the model, is what vetiver bundles and pins,
#' so reading the pin and serving it needs neither Keras nor the model's
#' code, only kerasexport and the format's runtime (onnxruntime by default).
#'
#' The artifact's format is `getOption("kerasexport.vetiver_format",
#' "onnx")`: one file, and no TensorFlow needed to serve it. Any format
#' kerasexport writes works, for example
#' `options(kerasexport.vetiver_format = "tf_saved_model")`.
#'
#' `prototype_data` is a data frame whose columns are the model's input
#' features, as for any vetiver model. A model with several inputs, or one
#' whose input is not a table of features (images, sequences, text), has no
#' prototype vetiver can check requests against: that is an error of class
#' `kerasexport_error_vetiver`; serve such a model with
#' [serve_savedmodel()] instead.
#'
#' The API answers with one column per model output value, `.pred_1`,
#' `.pred_2`, ... (`.pred` for a single value; with several outputs, each
#' output's name after `.pred_`).
#'
#' @name kerasexport-vetiver
#' @examplesIf kerasexport_available() && requireNamespace("vetiver", quietly = TRUE) && requireNamespace("pins", quietly = TRUE)
#' keras <- reticulate::import("keras")
#' model <- keras$Sequential(list(
#'   keras$Input(shape = list(4L), name = "measurements"),
#'   keras$layers$Dense(3L, activation = "softmax", name = "species")
#' ))
#' v <- vetiver::vetiver_model(model, "iris", prototype_data = iris[1:2, 1:4])
#' v
#' predict(v, iris[1:3, 1:4])
#' board <- pins::board_temp()
#' vetiver::vetiver_pin_write(board, v)
#' predict(vetiver::vetiver_pin_read(board, "iris"), iris[1:3, 1:4])
NULL

vetiver_format <- function() {
  format <- getOption("kerasexport.vetiver_format", "onnx")
  check_string(format, arg = "kerasexport.vetiver_format")
  format
}

#' @exportS3Method vetiver::vetiver_create_description
vetiver_create_description.keras.src.models.model.Model <- function(model) {
  sprintf("A Keras %s model with %d layers, served as a %s artifact by kerasexport",
          class(model)[[1]] |> sub(pattern = "^keras\\.src\\.models\\.[a-z_]+\\.", replacement = ""),
          length(model$layers), format_label(vetiver_format()))
}

format_label <- function(format) {
  c(tf_saved_model = "SavedModel", onnx = "ONNX", litert = "LiteRT", openvino = "OpenVINO",
    torch = "torch program")[[format]] %||% format
}

#' @exportS3Method vetiver::vetiver_create_meta
vetiver_create_meta.keras.src.models.model.Model <- function(model, metadata) {
  vetiver::vetiver_meta(metadata, required_pkgs = "kerasexport")
}

#' @exportS3Method vetiver::vetiver_ptype
vetiver_ptype.keras.src.models.model.Model <- function(model, ..., call = caller_env()) {
  inputs <- reticulate::py_to_r(model$inputs) %||% list()
  dots <- list(...)
  if (length(inputs) > 1) {
    abort_kerasexport(
      c("vetiver checks requests against a table of features, and this model has {length(inputs)} inputs.",
        i = "Serve a model with several inputs with {.fn serve_savedmodel}, or give vetiver a model with one."),
      kind = "vetiver", call = call
    )
  }
  prototype <- dots$prototype_data
  if (is.null(prototype) || !is.data.frame(prototype)) {
    abort_kerasexport(
      c("{.arg prototype_data} must be a data frame of the model's input features, not {.obj_type_friendly {prototype}}.",
        i = "Pass a few rows of the training data, e.g. {.code vetiver_model(model, \"iris\", prototype_data = iris[1:2, 1:4])}."),
      kind = "vetiver", call = call
    )
  }
  shape <- if (length(inputs)) unlist(lapply(reticulate::py_to_r(inputs[[1]]$shape), function(d) d %||% NA)) else NULL
  if (!is.null(shape) && (length(shape) != 2 || (!is.na(shape[[2]]) && shape[[2]] != ncol(prototype)))) {
    abort_kerasexport(
      c("The model's input has shape {format_shape(as.list(shape))}, which is not a table of {ncol(prototype)} feature{?s} like {.arg prototype_data}.",
        i = "vetiver serves models that take one row of features per instance; serve this one with {.fn serve_savedmodel}."),
      kind = "vetiver", call = call
    )
  }
  prototype <- prototype[0, , drop = FALSE]
  if (requireNamespace("tibble", quietly = TRUE)) tibble::as_tibble(prototype) else prototype
}

#' @exportS3Method vetiver::vetiver_prepare_model
vetiver_prepare_model.keras.src.models.model.Model <- function(model) {
  bundle.keras.src.models.model.Model(model)
}

#' @exportS3Method bundle::bundle
bundle.keras.src.models.model.Model <- function(x, ...) {
  format <- vetiver_format()
  dir <- tempfile("kerasexport-bundle-")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE), add = TRUE)
  entry <- if (format == "tf_saved_model") "model" else paste0("model", artifact_suffix(format))
  suppressMessages(export_savedmodel(x, file.path(dir, entry), format = format, verbose = FALSE,
                                     verify = TRUE))
  archive <- tempfile(fileext = ".tar.gz")
  on.exit(unlink(archive), add = TRUE)
  old <- setwd(dir)
  utils::tar(archive, files = list.files(".", all.files = TRUE, no.. = TRUE),
             compression = "gzip", tar = "internal")
  setwd(old)
  bundle::bundle_constr(
    object = list(archive = readBin(archive, "raw", file.size(archive)), entry = entry,
                  format = format),
    situate = bundle::situate_constr(function(object) {
      # Run when the bundle is read back, in any R session: the artifact is
      # unpacked and loaded by kerasexport, without Keras.
      dir <- tempfile("kerasexport-unbundle-")
      dir.create(dir)
      archive <- file.path(dir, "artifact.tar.gz")
      writeBin(object$archive, archive)
      utils::untar(archive, exdir = dir, tar = "internal")
      kerasexport::load_savedmodel(file.path(dir, object$entry), format = object$format)
    }),
    desc_class = "kerasexport_artifact"
  )
}

artifact_suffix <- function(format) {
  c(onnx = ".onnx", litert = ".tflite", openvino = ".xml", torch = ".pt2")[[format]]
}

#' @exportS3Method vetiver::handler_startup
handler_startup.kerasexport_loaded_artifact <- function(vetiver_model) {
  invisible(NULL) # the artifact is loaded already; nothing to attach
}

#' @exportS3Method vetiver::handler_predict
handler_predict.kerasexport_loaded_artifact <- function(vetiver_model, ...) {
  artifact <- vetiver_model$model
  prototype <- vetiver_model$prototype
  function(req, res) {
    new_data <- as_prototype(req$body, prototype)
    # The answer is written here, at full precision: vetiver's serializer
    # (jsonlite's defaults) would round every value to 4 significant digits.
    # A handler that returns plumber's response object is not serialized.
    res$setHeader("Content-Type", "application/json")
    res$body <- jsonlite::toJSON(predictions_frame(predict(artifact, new_data)), digits = NA,
                                 na = "null")
    res
  }
}

# A request's body as a data frame with the prototype's columns, in its
# order and of its types: a classed error naming what does not fit.
as_prototype <- function(body, prototype, call = caller_env()) {
  new_data <- tryCatch(as.data.frame(body), error = function(e) NULL)
  if (is.null(new_data) || nrow(new_data) == 0) {
    abort_kerasexport("The request holds no rows of features.", kind = "predict_input", call = call)
  }
  if (is.null(prototype)) {
    return(new_data)
  }
  missing <- setdiff(names(prototype), names(new_data))
  if (length(missing)) {
    abort_kerasexport(
      c("The request has no column{?s} {.val {missing}}.",
        i = "The model takes the columns {.val {names(prototype)}}."),
      kind = "predict_input", call = call
    )
  }
  new_data <- new_data[names(prototype)]
  for (column in names(prototype)) {
    if (is.numeric(prototype[[column]]) && !is.numeric(new_data[[column]])) {
      converted <- suppressWarnings(as.numeric(new_data[[column]]))
      if (anyNA(converted[!is.na(new_data[[column]])])) {
        abort_kerasexport("Column {.val {column}} must hold numbers.", kind = "predict_input",
                          call = call)
      }
      new_data[[column]] <- converted
    }
  }
  new_data
}

# Predictions as vetiver answers them: a data frame, one column per value.
predictions_frame <- function(outputs) {
  if (!is.list(outputs)) {
    outputs <- list(outputs)
  }
  columns <- list()
  for (i in seq_along(outputs)) {
    values <- outputs[[i]]
    values <- if (is.null(dim(values))) matrix(values, ncol = 1) else
      matrix(values, nrow = dim(values)[[1]])
    prefix <- if (length(outputs) > 1) paste0(".pred_", names(outputs)[[i]]) else ".pred"
    labels <- if (ncol(values) == 1) prefix else paste0(prefix, "_", seq_len(ncol(values)))
    for (j in seq_len(ncol(values))) columns[[labels[[j]]]] <- values[, j]
  }
  as.data.frame(columns, check.names = FALSE)
}

#' @exportS3Method vetiver::vetiver_python_requirements
vetiver_python_requirements.kerasexport_loaded_artifact <- function(model) {
  # What the served artifact needs in Python: its runtime, at the versions
  # kerasexport pins.
  requirements <- call_python("runtime_requirements", list(format = model$info$format))
  file <- tempfile("requirements-", fileext = ".txt")
  writeLines(unlist(requirements), file)
  file
}
