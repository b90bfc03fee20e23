# Cold start with keras3, as a user's script starts: a fresh Rscript that
# attaches keras3 (and kerasexport), builds the small model with keras3 and
# exports it, with keras3's own method or with kerasexport's.
# Usage: Rscript bench/keras3_cold_start.R <keras3|kerasexport> <format> <path>
args <- commandArgs(TRUE)
library(keras3)
if (args[[1]] == "kerasexport") library(kerasexport)
set_random_seed(1)
model <- keras_model_sequential(input_shape = 4) |>
  layer_dense(16, activation = "relu") |>
  layer_dense(3, activation = "softmax", name = "species")
model(matrix(0, 1, 4)) # as after training
export <- if (args[[1]] == "keras3") {
  getFromNamespace("export_savedmodel.keras.src.models.model.Model", "keras3")
} else {
  export_savedmodel
}
invisible(suppressMessages(utils::capture.output(export(model, args[[3]], format = args[[2]], verbose = FALSE))))
resource <- reticulate::import("resource")
cat(jsonlite::toJSON(list(max_rss_kb = resource$getrusage(resource$RUSAGE_SELF)$ru_maxrss),
                     auto_unbox = TRUE), "\n")
