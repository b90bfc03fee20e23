#' Describe an exported artifact
#'
#' Reads an artifact (a SavedModel folder, or an ONNX, LiteRT, OpenVINO or
#' PyTorch ExportedProgram file, by kerasexport or any other tool) and
#' describes it the way `saved_model_cli show` does:
#' format, endpoints (SavedModel signatures, or the ONNX graph), each input
#' and output with name, dtype and shape, size on disk, and, when kerasexport
#' wrote it, what produced it (Keras version, backend, date).
#'
#' @param path Path of the artifact.
#' @param format `NULL` to tell the format from the artifact, or one of
#'   `"tf_saved_model"`, `"onnx"`, `"litert"`, `"openvino"`, `"torch"`.
#' @return An object of class `kerasexport_artifact_info`: a list with
#'   `path`, `format`, `files` (the artifact's name, and for an ONNX file
#'   with external weights, its `.data` file), `size_bytes` (all of them),
#'   `endpoints`, `producer` and
#'   `kerasexport` (the record kerasexport wrote, or `NULL`; its
#'   `local_information_removed` lists what [export_savedmodel()]'s `scrub`
#'   found and removed). It prints as a summary; `as.data.frame()` gives one
#'   row per input and output.
#' @export
#' @examplesIf kerasexport_available()
#' keras <- reticulate::import("keras")
#' model <- keras$Sequential(list(
#'   keras$Input(shape = list(4L), name = "measurements"),
#'   keras$layers$Dense(3L, activation = "softmax", name = "species")
#' ))
#' path <- file.path(tempdir(), "described.onnx")
#' export_savedmodel(model, path, format = "onnx", verbose = FALSE, overwrite = TRUE)
#' info <- artifact_info(path)
#' info
#' as.data.frame(info)
artifact_info <- function(path, format = NULL) {
  path <- check_path(path, must_exist = TRUE)
  check_string(format, allow_null = TRUE)
  info <- call_python("describe_artifact", python_kwargs(list(path = path, format = format)))
  structure(info, class = "kerasexport_artifact_info")
}

#' @export
as.data.frame.kerasexport_artifact_info <- function(x, ...) {
  rows <- list()
  for (endpoint in x$endpoints) {
    for (role in c("inputs", "outputs")) {
      for (tensor in endpoint[[role]]) {
        rows[[length(rows) + 1]] <- data.frame(
          endpoint = endpoint$name,
          role = sub("s$", "", role),
          name = tensor$name,
          dtype = tensor$dtype,
          shape = format_shape(tensor$shape)
        )
      }
    }
  }
  do.call(rbind, rows)
}

#' @export
format.kerasexport_artifact_info <- function(x, ...) {
  record <- x$kerasexport
  made_by <- if (is.null(record)) {
    x$producer
  } else {
    sprintf("kerasexport %s, Keras %s (%s backend), %s",
            record$kerasexport_version %||% "?", record$keras_version, record$backend, record$created)
  }
  lines <- c(
    sprintf("<kerasexport_artifact_info> %s", x$format),
    sprintf("  path: %s", x$path),
    if (length(x$files) > 1) {
      sprintf("  files: %s (keep them together)", paste(unlist(x$files), collapse = ", "))
    },
    sprintf("  size: %s", format(structure(x$size_bytes, class = "object_size"), units = "auto")),
    sprintf("  made by: %s", made_by)
  )
  removed <- record$local_information_removed
  if (!is.null(record)) {
    lines <- c(lines, if (length(removed) == 0) {
      "  local information: none found"
    } else {
      sprintf("  local information removed: %d item(s) (%s)", length(removed),
              paste(unique(vapply(removed, function(r) r$kind, "")), collapse = ", "))
    })
  }
  for (endpoint in x$endpoints) {
    lines <- c(lines, sprintf("  endpoint '%s'", endpoint$name))
    for (role in c("inputs", "outputs")) {
      for (tensor in endpoint[[role]]) {
        lines <- c(lines, sprintf("    %-6s %s: %s %s", sub("s$", "", role), tensor$name,
                                  tensor$dtype, format_shape(tensor$shape)))
      }
    }
  }
  lines
}

#' @export
print.kerasexport_artifact_info <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

format_shape <- function(shape) {
  if (is.null(shape)) {
    return("(unknown rank)")
  }
  dims <- vapply(shape, function(d) if (is.null(d)) "NA" else format(d), "")
  paste0("(", paste(dims, collapse = ", "), ")")
}
