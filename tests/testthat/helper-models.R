# The model shapes people train, built through reticulate as an R user would.

model_multi_input <- function() {
  k <- keras()
  sepal <- k$Input(shape = list(2L), name = "sepal")
  petal <- k$Input(shape = list(2L), name = "petal")
  joined <- k$layers$Concatenate()(list(sepal, petal))
  species <- k$layers$Dense(3L, activation = "softmax", name = "species")(joined)
  size <- k$layers$Dense(1L, name = "size")(joined)
  k$Model(inputs = list(sepal, petal), outputs = list(species, size))
}

model_dict_io <- function() {
  k <- keras()
  sepal <- k$Input(shape = list(2L), name = "sepal")
  petal <- k$Input(shape = list(2L), name = "petal")
  joined <- k$layers$Concatenate()(list(sepal, petal))
  k$Model(
    inputs = list(sepal = sepal, petal = petal),
    outputs = list(species = k$layers$Dense(3L, name = "species_head")(joined),
                   size = k$layers$Dense(1L, name = "size_head")(joined))
  )
}

model_tokens <- function() {
  k <- keras()
  tokens <- k$Input(shape = list(6L), dtype = "int32", name = "tokens")
  embedded <- k$layers$Embedding(input_dim = 50L, output_dim = 4L)(tokens)
  pooled <- k$layers$GlobalAveragePooling1D()(embedded)
  k$Model(tokens, k$layers$Dense(2L, name = "score")(pooled))
}

model_subclassed <- function() {
  reticulate::py_run_string("
import keras

class TwoLayers(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(5, activation='relu')
        self.out = keras.layers.Dense(2)

    def call(self, x):
        return self.out(self.hidden(x))
")
  model <- reticulate::import_main()$TwoLayers()
  model(reticulate::np_array(matrix(0, 1, 3), dtype = "float32"))
  model
}

model_normalized <- function() {
  k <- keras()
  x <- as.matrix(iris[, 1:4])
  normalize <- k$layers$Normalization()
  normalize$adapt(x)
  k$Sequential(list(k$Input(shape = list(4L), name = "measurements"), normalize,
                    k$layers$Dense(3L, activation = "softmax", name = "species")))
}

# Export `model` in every format of this backend, check each round trip with
# `data` (or random inputs), and return the paths.
expect_round_trips <- function(model, data = NULL, ..., label = "") {
  dir <- withr::local_tempdir(.local_envir = parent.frame())
  paths <- character()
  for (format in backend_formats()) {
    path <- artifact_path(dir, format)
    suppressMessages(export_savedmodel(model, path, format = format, verbose = FALSE, ...))
    check <- suppressMessages(verify_artifact(path, model, data = data))
    expect_true(check$passed, label = paste(label, format))
    expect_lte(check$max_abs_diff, 1e-5)
    paths[[format]] <- path
  }
  invisible(paths)
}
