#' Write what TF-Serving, Triton or KServe needs to serve an artifact
#'
#' When one machine is not enough, the artifact goes to a server that scales:
#' `write_deployment()` writes a folder you can ship with what each needs,
#' and a `README.md` with the commands that run it.
#'
#' * `"tf-serving"` (a SavedModel): the model base path
#'   `models/<name>/<version>/` and a `Dockerfile` on the official
#'   `tensorflow/serving` image (pinned).
#' * `"triton"` (a SavedModel, an ONNX or an OpenVINO artifact): a model
#'   repository, `<name>/<version>/model.onnx` (`model.savedmodel/`,
#'   `model.xml`), with a `config.pbtxt` written from the artifact's
#'   signature: inputs, outputs, datatypes, dims, `max_batch_size` and
#'   dynamic batching when the batch axis is dynamic.
#' * `"kserve"` (a SavedModel or an ONNX artifact): an `InferenceService`
#'   for KServe's TensorFlow or ONNX predictor (`protocolVersion: v2`, as
#'   KServe's ONNX runtime needs), and in `storage/` what the storage URI
#'   must hold.
#'
#' What can be checked here is checked in the tests: the Triton configuration
#' parses with Triton's own protobuf definitions, the `InferenceService`
#' with KServe's own Python models, and the folders load with the runtimes.
#' Docker and Kubernetes are not run.
#'
#' @param artifact Path of an artifact (see [export_savedmodel()]).
#' @param path The folder to write; it must not exist, unless `overwrite`.
#' @param target `"tf-serving"`, `"triton"` or `"kserve"`.
#' @param name The model's name on the server; `NULL` takes the artifact's
#'   file or folder name.
#' @param version The version number to serve it as.
#' @param storage_uri KServe only: where the model will be stored, such as
#'   `"s3://bucket/iris"`; `NULL` writes a placeholder to fill in.
#' @param max_batch_size Triton only: the largest batch Triton forms with
#'   dynamic batching, for an artifact whose batch axis is dynamic.
#' @param overwrite If `TRUE`, a folder this function wrote before is
#'   replaced; any other existing folder never is.
#' @return `path`, invisibly. A message gives the commands to run.
#' @export
#' @examplesIf kerasexport_available()
#' keras <- reticulate::import("keras")
#' model <- keras$Sequential(list(
#'   keras$Input(shape = list(4L), name = "measurements"),
#'   keras$layers$Dense(3L, activation = "softmax", name = "species")
#' ))
#' artifact <- file.path(tempdir(), "iris.onnx")
#' export_savedmodel(model, artifact, format = "onnx", verbose = FALSE, overwrite = TRUE)
#' write_deployment(artifact, file.path(tempdir(), "iris-triton"), target = "triton",
#'                  overwrite = TRUE)
#' list.files(file.path(tempdir(), "iris-triton"), recursive = TRUE)
write_deployment <- function(artifact, path, target = c("tf-serving", "triton", "kserve"),
                             name = NULL, version = 1, storage_uri = NULL, max_batch_size = 32,
                             overwrite = FALSE) {
  artifact <- check_path(artifact, must_exist = TRUE)
  path <- check_path(path)
  target <- check_choice(target, c("tf-serving", "triton", "kserve"))
  check_string(name, allow_null = TRUE)
  check_number(version, min = 1, whole = TRUE)
  check_string(storage_uri, allow_null = TRUE)
  check_number(max_batch_size, min = 0, whole = TRUE)
  check_flag(overwrite)
  result <- call_python("write_deployment", python_kwargs(list(
    artifact = artifact, path = path, target = target, name = name, version = version,
    storage_uri = storage_uri, max_batch_size = max_batch_size, overwrite = overwrite
  )))
  cli::cli_inform(c(v = "Wrote a {target} deployment of {.path {basename(artifact)}} to {.path {path}}.",
                    i = "Run it with:", set_names_blank(result$commands)),
                  class = "kerasexport_deployment_written")
  invisible(path)
}

# Lines shown as they are (cli would read braces as markup).
set_names_blank <- function(lines) {
  lines <- gsub("}", "}}", gsub("{", "{{", unlist(lines), fixed = TRUE), fixed = TRUE)
  stats::setNames(lines, rep(" ", length(lines)))
}
