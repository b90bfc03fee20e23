#' Load an exported artifact to predict with it from R
#'
#' Loads an artifact of any format kerasexport writes (a SavedModel folder,
#' an ONNX, LiteRT, OpenVINO or PyTorch ExportedProgram file) for
#' [predict()], in its own runtime: TensorFlow, onnxruntime, the LiteRT
#' interpreter, OpenVINO or torch. Neither Keras nor the model's code is
#' needed. It is called through the endpoint TF-Serving clients call,
#' `"serving_default"`, as [verify_artifact()] and [serve_savedmodel()] call
#' it.
#'
#' tfdeploy's `load_savedmodel(sess, model_dir)` works too: when the first
#' argument is `NULL` or a TensorFlow session, the path is the second (or
#' `model_dir`), and the session is not needed.
#'
#' @param path Path of the artifact.
#' @param format `NULL` to tell the format from the artifact.
#' @param precision What the runtime computes in: `"float32"` (the default),
#'   the artifact's own precision, on every CPU. `"bfloat16"` or `"float16"`
#'   trade exactness for speed where the format's runtime offers it
#'   (OpenVINO); on a CPU
#'   without bfloat16 arithmetic OpenVINO computes in float32, and without
#'   float16 arithmetic asks for bfloat16 instead. The results then differ
#'   from the model's by about 5e-3 of their size; the README's benchmark
#'   gives the speed and the difference measured. Other runtimes compute in
#'   float32 only, and asking them for less is an error.
#' @param model_dir tfdeploy's name for `path`.
#' @return An object of class `kerasexport_loaded_artifact`, with a print
#'   method and a [predict()] method.
#' @seealso [predict.kerasexport_loaded_artifact()], [predict_savedmodel()]
#' @export
#' @examplesIf kerasexport_available()
#' keras <- reticulate::import("keras")
#' model <- keras$Sequential(list(
#'   keras$Input(shape = list(4L), name = "measurements"),
#'   keras$layers$Dense(3L, activation = "softmax", name = "species")
#' ))
#' path <- file.path(tempdir(), "to-load.onnx")
#' export_savedmodel(model, path, format = "onnx", verbose = FALSE, overwrite = TRUE)
#' artifact <- load_savedmodel(path)
#' artifact
#' predict(artifact, as.matrix(iris[1:3, 1:4]))
load_savedmodel <- function(path = NULL, format = NULL, model_dir = NULL, precision = "float32") {
  if (is.null(path) || inherits(path, "python.builtin.object")) {
    # tfdeploy: load_savedmodel(sess = NULL, model_dir = NULL)
    path <- model_dir %||% format %||% getwd()
    format <- NULL
  }
  path <- check_path(path, must_exist = TRUE)
  check_string(format, allow_null = TRUE)
  precision <- check_precision(precision)
  predictor <- call_python("load_artifact", python_kwargs(list(
    path = path, format = format, precision = precision)))
  structure(list(predictor = predictor, path = path,
                 info = reticulate::py_to_r(predictor$info),
                 precision = reticulate::py_to_r(predictor$precision),
                 predict = bind_python_method(predictor, "predict"),
                 signature = bind_python_method(predictor, "signature"),
                 output_names = bind_python_method(predictor, "output_names")),
            class = "kerasexport_loaded_artifact")
}

#' @export
print.kerasexport_loaded_artifact <- function(x, ...) {
  info <- structure(x$info, class = "kerasexport_artifact_info")
  lines <- format(info)
  lines[[1]] <- sub("kerasexport_artifact_info", "kerasexport_loaded_artifact", lines[[1]])
  lines <- append(lines, sprintf("  computes in: %s", x$precision %||% "float32"), after = 2)
  cat(lines, sep = "\n")
  invisible(x)
}

#' Predict with a loaded artifact
#'
#' @param object An artifact from [load_savedmodel()].
#' @param newdata The inputs: an array, matrix or data frame for an artifact
#'   with one input (rows are instances), or a list of them, named by the
#'   artifact's input names or in their order. Values are cast to the
#'   dtypes the artifact's signature says. Text inputs take character
#'   vectors and matrices (a vector is one value per instance).
#' @param signature_name The SavedModel signature to call; `NULL` for
#'   `"serving_default"`.
#' @param batch_size Instances per call to the runtime; larger inputs are
#'   run in slices of this many, without copying the whole input again.
#' @param ... Unused.
#' @return An array (a matrix for one output value per instance) for an
#'   artifact with one output, else a named list of arrays.
#' @export
#' @examplesIf kerasexport_available()
#' keras <- reticulate::import("keras")
#' model <- keras$Sequential(list(
#'   keras$Input(shape = list(4L), name = "measurements"),
#'   keras$layers$Dense(3L, activation = "softmax", name = "species")
#' ))
#' path <- file.path(tempdir(), "to-predict.onnx")
#' export_savedmodel(model, path, format = "onnx", verbose = FALSE, overwrite = TRUE)
#' predict(load_savedmodel(path), iris[1:5, 1:4])
predict.kerasexport_loaded_artifact <- function(object, newdata, signature_name = NULL,
                                                batch_size = 4096, ...) {
  check_string(signature_name, allow_null = TRUE)
  check_number(batch_size, min = 1, whole = TRUE)
  inputs <- as_prediction_inputs(newdata, function() object$signature(signature_name)$inputs)
  outputs <- object$predict(inputs, signature_name, as.integer(batch_size),
                            call = rlang::current_env())
  if (length(outputs) == 1) outputs[[1]] else outputs
}

# newdata -> what Predictor.prepare() takes: one array, or a list or dict of
# them. Data frames become matrices (rows are instances). R arrays are left
# for reticulate to hand to numpy as part of the call.
#
# NA: reticulate hands an integer NA to numpy as -2147483648 and a logical
# NA as TRUE, numbers the model would silently use. For an input whose
# dtype is a float, NA becomes NaN; for an integer or boolean input it is an
# error. `input_specs()` gives the signature's inputs (name, dtype), asked
# for only when there is an NA.
as_prediction_inputs <- function(newdata, input_specs, call = caller_env()) {
  to_array <- function(x, element = NULL, name = NULL) {
    if (is.data.frame(x)) {
      x <- as.matrix(x)
    }
    if (is.factor(x)) {
      x <- as.character(x)
    }
    if (!(is.numeric(x) || is.logical(x) || is.character(x))) {
      abort_kerasexport(
        if (is.null(element)) {
          "{.arg newdata} must be numbers or text (an array, matrix, vector or data frame), not {.obj_type_friendly {x}}."
        } else {
          "Element {element} of {.arg newdata} must be numbers or text (an array, matrix, vector or data frame), not {.obj_type_friendly {x}}."
        },
        kind = "predict_input", call = call
      )
    }
    if (is.character(x) && anyNA(x)) {
      abort_kerasexport(
        c("{.arg newdata} holds NA among its text.",
          i = "Text inputs cannot be missing: give an empty string, or drop those rows."),
        kind = "predict_input", call = call
      )
    }
    if ((is.integer(x) || is.logical(x)) && anyNA(x)) {
      x <- missing_as_nan(x, input_spec_for(input_specs(), element, name), call)
    }
    if (is.null(dim(x))) as.array(x) else x
  }
  if (is.list(newdata) && !is.data.frame(newdata)) {
    arrays <- lapply(seq_along(newdata), function(i) {
      to_array(newdata[[i]], element = i, name = names(newdata)[i])
    })
    if (!is.null(names(newdata))) {
      return(reticulate::py_dict(names(newdata), arrays, convert = FALSE))
    }
    return(reticulate::r_to_py(arrays))
  }
  to_array(newdata)
}

input_spec_for <- function(specs, element, name) {
  if (!is.null(name)) {
    for (spec in specs) if (identical(spec$name, name)) return(spec)
  }
  specs[[element %||% 1L]] %||% list(name = name %||% "?", dtype = "float32")
}

missing_as_nan <- function(x, spec, call) {
  if (grepl("^(float|bfloat|half|double)", spec$dtype)) {
    storage.mode(x) <- "double" # NA_real_ reaches numpy as NaN
    return(x)
  }
  abort_kerasexport(
    c("{.arg newdata} holds NA for input {.val {spec$name}}, which is {spec$dtype}.",
      i = "Integer and boolean inputs cannot be missing: fill in or drop those rows first."),
    kind = "predict_input", call = call, input = spec$name
  )
}
