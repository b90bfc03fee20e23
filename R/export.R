#' Export a model as a standalone inference artifact
#'
#' `export_savedmodel()` writes a trained Keras 3 model to an artifact that
#' runs without R, without Keras and without the model's code: a TensorFlow
#' SavedModel for TF-Serving, an ONNX file for onnxruntime, a LiteRT file, an
#' OpenVINO model or a PyTorch ExportedProgram, or any other format the
#' installed Keras offers (see [export_formats()]). It works on every Keras
#' backend (TensorFlow, JAX, PyTorch) and on every model, however it was
#' made: with the keras3 package or with `reticulate::import("keras")`.
#'
#' Every backend writes every one of these formats. Where Keras cannot
#' write a format from the model's backend (a torch model to a SavedModel or
#' LiteRT; a JAX model to LiteRT; a TensorFlow or JAX model to `"torch"`),
#' the model goes as a `.keras` file to a Python process on a backend that
#' can (kept warm for the session), and the artifact is checked against the
#' model's own predictions before it is placed. A model whose layers
#' that process cannot rebuild (written in R, or in Python code it cannot
#' import) is a `kerasexport_error_unsupported_combination` that says which
#' backends write the format.
#'
#' The artifact is written to a hidden staging folder beside
#' `export_dir_base` and checked there before it is placed: its own runtime
#' runs it (a SavedModel through the function it holds), it returns the
#' model's outputs, and every axis it declares of any length (the batch, a
#' sequence's length) gives the model's answers at two sizes, so that no
#' artifact is placed that would give wrong numbers at another size. With
#' `verify = TRUE` it is also checked in another process, still before it is
#' placed. Only then is it moved into place, atomically: a failed export
#' leaves nothing half-written behind and an earlier artifact untouched, and
#' at every instant `export_dir_base` holds the old artifact or the new one.
#'
#' What a format cannot express is an error before anything is written, of
#' class `kerasexport_error_unsupported_combination`, naming the layer and
#' the formats that can: a recurrent layer over a time axis of any length in
#' LiteRT or a torch program (give the time axis a length in
#' `input_signature`, and they hold it), a text input anywhere but the
#' TensorFlow backend, or in OpenVINO or a torch program. Where one of Keras'
#' exporters is wrong for a model, kerasexport writes it another way (see
#' the README's table of models, formats and backends).
#'
#' What Keras prints while exporting reaches R as a message (silence it with
#' `verbose = FALSE` or [suppressMessages()]). Python warnings become R
#' warnings; those that only concern library internals (deprecations, the
#' torch tracer's notes on Keras' own code) become messages, and
#' `verbose = FALSE` leaves them out. Python's warning filters apply as they
#' would in Python: a deprecation inside a library stays hidden, and a
#' filter set with Python's `warnings.filterwarnings()` holds.
#'
#' @param object A Keras 3 model.
#' @param export_dir_base Path of the artifact to write: a folder for
#'   `"tf_saved_model"`, else a file with the format's ending: `.onnx`,
#'   `.tflite` (`"litert"`), `.xml` (`"openvino"`, which writes a `.bin` of
#'   weights beside it) or `.pt2` (`"torch"`); another ending is an error
#'   before anything runs. `~` is expanded, a relative path is taken from R's
#'   working directory, and missing folders are created (and removed again if
#'   the export fails).
#' @param ... Named format-specific arguments, passed to Keras, for example
#'   `opset_version = 17` for ONNX, or `is_static = TRUE` and
#'   `jax2tf_kwargs = list(enable_xla = FALSE)` for a JAX SavedModel. An
#'   argument the format does not accept is an error.
#' @param format The export format: `"tf_saved_model"` (the default),
#'   `"onnx"`, `"litert"`, `"openvino"`, `"torch"`, or another format the
#'   installed Keras supports (written by Keras as it is). OpenVINO and LiteRT
#'   need `install_kerasexport(formats = ...)`.
#' @param verbose `TRUE` or `FALSE` to show or hide what Keras prints (and
#'   warnings about library internals); `NULL` keeps Keras' default for the
#'   backend and format.
#' @param input_signature `NULL` to take the inputs from the model. Or a shape
#'   such as `c(NA, 784)`, `list(NULL, 784)` or keras3's `shape(NA, 784)`
#'   (`NA` = any size; the batch axis first), an [input_spec()], or a list of
#'   those for a model with several inputs (in the model's order, or named by
#'   the model's input names). dtypes default to the model's. Python
#'   `InputSpec`, `TensorSpec` and `KerasTensor` objects (keras3's
#'   `keras_input()`) are accepted too, alone for a model with one input. A
#'   signature that does not fit the model is an error before anything is
#'   written. A model that was never built is built from it.
#' @param model_names If `TRUE` (the default), clients see the model's own
#'   names: the SavedModel's `serving_default` signature takes the model's
#'   input names and returns its output layer names (Keras' own `serve`
#'   endpoint is kept as it is), and an ONNX graph's inputs and outputs are
#'   named the same way. The names are recorded in the artifact (see
#'   [verify_artifact()]). `FALSE` keeps Keras' names (`args_0`, `output_0`).
#' @param overwrite If `TRUE`, an existing artifact of the same format at
#'   `export_dir_base` is replaced. Anything else there (a folder of data, a
#'   file of another kind) is never replaced.
#' @param verify If `TRUE`, check the artifact as [verify_artifact()] does,
#'   in another Python process, before it is placed: a failed check leaves
#'   `export_dir_base` as it was.
#' @param version `NULL` to write the artifact at `export_dir_base` itself.
#'   A whole number, or `"auto"` for one more than the highest there, writes
#'   version `export_dir_base/<version>/` in the layout TF-Serving expects
#'   (`export_dir_base/<version>/model.onnx` for ONNX); [serve_savedmodel()]
#'   serves the newest version of such a folder and picks up new ones while
#'   it runs.
#' @param scrub If `TRUE` (the default), local information is kept out of
#'   the artifact: this machine's folders (home, working directory, Python
#'   installation, temporary folders) and the user's name are searched for in
#'   every string a reader could see, and removed from ONNX doc strings, names
#'   and metadata and from a SavedModel's debug information. What was found
#'   is recorded in the artifact and shown by [artifact_info()].
#' @param external_data ONNX only: where the weights go. `NULL` (the
#'   default) writes one self-contained `.onnx` file when the model fits in
#'   protobuf's 2 GB limit, and puts the weights in a `<file>.data` file
#'   beside it when it does not. `TRUE` puts them there at any size
#'   (tensors under 1 KB stay in the graph): the layout Keras' JAX exporter
#'   writes for large weights, and the quickest to write for a large model.
#'   `FALSE` always writes one file (an error above 2 GB).
#'   Keep the two files together: onnxruntime finds the weights by name, next
#'   to the `.onnx` file. Replacing an artifact replaces its `.data` file too;
#'   a `.data` file that is not part of the artifact is never replaced.
#'
#' @return `object`, invisibly, so that the call fits in a pipe.
#' @seealso [verify_artifact()] to check an artifact against its model,
#'   [export_formats()] for the formats on offer, [kerasexport-errors] for the
#'   errors.
#' @export
#' @examplesIf kerasexport_available()
#' keras <- reticulate::import("keras")
#' model <- keras$Sequential(list(
#'   keras$Input(shape = list(4L)),
#'   keras$layers$Dense(3L, activation = "softmax")
#' ))
#' path <- file.path(tempdir(), "iris-model")
#' model |> export_savedmodel(path, verbose = FALSE, overwrite = TRUE)
#' model |> export_savedmodel(file.path(tempdir(), "iris.onnx"),
#'   format = "onnx", verbose = FALSE, overwrite = TRUE)
export_savedmodel <- function(object, export_dir_base, ...) {
  UseMethod("export_savedmodel")
}

#' @rdname export_savedmodel
#' @export
export_savedmodel.keras.src.models.model.Model <- function(
    object, export_dir_base, ..., format = "tf_saved_model", verbose = NULL,
    input_signature = NULL, overwrite = FALSE, verify = FALSE, model_names = TRUE,
    scrub = TRUE, version = NULL, external_data = NULL) {
  call <- export_call()
  path <- check_path(export_dir_base, call = call)
  check_string(format, call = call)
  check_flag(verbose, allow_null = TRUE, call = call)
  check_flag(overwrite, call = call)
  check_flag(verify, call = call)
  check_flag(model_names, call = call)
  check_flag(scrub, call = call)
  check_flag(external_data, allow_null = TRUE, call = call)
  check_version(version, call = call)
  kwargs <- python_kwargs(
    c(list(model = object, filepath = path, format = format, verbose = verbose,
           input_signature = as_python_signature(input_signature, call = call),
           overwrite = overwrite, model_names = model_names, scrub = scrub,
           version = version, external_data = external_data, verify = verify),
      list(...)),
    call = call
  )
  result <- call_python("export_model", kwargs, call = call)
  if (!is.null(version)) {
    cli::cli_inform(c(v = "Exported version {result$version} to {.path {result$path}}."),
                    class = "kerasexport_exported_version")
  }
  invisible(object)
}

#' @rdname export_savedmodel
#' @export
export_savedmodel.default <- function(object, export_dir_base, ...) {
  # Objects kerasexport does not know, for which the tensorflow package has
  # a method (a TensorFlow 1 session), go to that method directly: calling
  # tensorflow's generic from here would dispatch back to this default.
  method <- tensorflow_method_for(object)
  if (!is.null(method)) {
    return(method(object, export_dir_base, ...))
  }
  check_keras_model(object, call = export_call())
}

#' Export formats offered by the installed Keras
#'
#' Asks the installed Keras which formats `Model.export()` accepts, so the
#' list follows Keras releases. Whether a format works also depends on the
#' backend and on optional Python packages: an export that needs a missing
#' package fails with an error that says how to install it.
#'
#' @return A character vector of format names.
#' @export
#' @examplesIf kerasexport_available()
#' export_formats()
export_formats <- function() {
  unlist(call_python("supported_formats"))
}

export_call <- function() {
  # Errors name the generic the user called, not the S3 method.
  rlang::call2("export_savedmodel")
}
