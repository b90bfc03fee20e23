# kerasexport demo: train a small classifier on iris in R, export it to a
# TensorFlow SavedModel and to ONNX, reload both in a fresh Python process
# that has neither Keras nor the model's code, and compare with the model.
#
# Run it with `make demo` from the repository, or
#   Rscript "$(Rscript -e 'cat(system.file("examples", "iris.R", package = "kerasexport"))')"
# Artifacts go to ./kerasexport-demo (or to $KERASEXPORT_DEMO_DIR).

library(kerasexport)

keras <- reticulate::import("keras")
keras$utils$set_random_seed(42L)

# Raw measurements in, species probabilities out: the normalization is a layer
# of the model, so the exported artifact takes the data as it comes.
x <- as.matrix(iris[, 1:4])
y <- array(as.integer(iris$Species) - 1L)  # a 1-d array, not a Python list
normalize <- keras$layers$Normalization()
normalize$adapt(x)

model <- keras$Sequential(list(
  keras$Input(shape = list(4L), name = "measurements"),
  normalize,
  keras$layers$Dense(16L, activation = "relu"),
  keras$layers$Dense(3L, activation = "softmax", name = "species")
))
model$compile(optimizer = "adam", loss = "sparse_categorical_crossentropy",
              metrics = list("accuracy"))
history <- model$fit(x, y, epochs = 100L, batch_size = 16L, verbose = 0L)
accuracy <- mean(max.col(as.matrix(model$predict(x, verbose = 0L))) - 1L == y)
cat(sprintf("Trained on iris with the %s backend: training accuracy %.1f%%\n",
            keras$backend$backend(), 100 * accuracy))

out_dir <- Sys.getenv("KERASEXPORT_DEMO_DIR", "kerasexport-demo")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
artifacts <- c(
  tf_saved_model = file.path(out_dir, "iris_savedmodel"),
  onnx = file.path(out_dir, "iris.onnx")
)

for (format in names(artifacts)) {
  model |> export_savedmodel(artifacts[[format]], format = format,
                             verbose = FALSE, overwrite = TRUE)
}

size_on_disk <- function(path) {
  files <- if (dir.exists(path)) list.files(path, recursive = TRUE, full.names = TRUE) else path
  sum(file.size(files))
}

rows <- lapply(names(artifacts), function(format) {
  path <- normalizePath(artifacts[[format]])
  check <- verify_artifact(path, model, data = x)
  data.frame(
    format = format,
    path = path,
    size_kb = round(size_on_disk(path) / 1024, 1),
    max_abs_diff = signif(check$max_abs_diff, 3),
    reloaded_in = "fresh Python process"
  )
})
options(width = 120)
cat("\nExported, reloaded without the model's code, and compared on all 150 rows:\n")
print(do.call(rbind, rows), row.names = FALSE)
