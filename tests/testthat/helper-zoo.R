# The model zoo: the architectures users train, built through keras3's R
# API as they build them, with data to predict on. test-zoo.R exports each to
# every format on the backend under test.
#
# Each entry: `build()` returns a built model; `data(n, length)` returns
# inputs for n instances (sequences of `length` steps where the model takes
# any length); `only_tensorflow` marks models other backends cannot hold;
# `reference(model, x)`, where keras3's predict() cannot give the model's
# answers (see there), gives them another way.

zoo_image <- function(n, size = 32, seed = 1) {
  set.seed(seed)
  array(stats::runif(n * size * size * 3) * 255, c(n, size, size, 3))
}

zoo_series <- function(n, length, seed = 1) {
  set.seed(seed)
  array(stats::rnorm(n * length * 8), c(n, length, 8))
}

zoo_tokens <- function(n, length, seed = 1) {
  set.seed(seed)
  tokens <- matrix(sample(1:29, n * length, replace = TRUE), n, length)
  if (length > 2) tokens[, length] <- 0L # padding, which the mask leaves out
  storage.mode(tokens) <- "integer"
  tokens
}

zoo_scale_by_two <- function() {
  keras3::Layer("ScaleByTwo", call = function(inputs) inputs * 2 + 1)
}

zoo_models <- list(
  cnn = list(
    build = function() {
      keras3::set_random_seed(1)
      input <- keras3::keras_input(shape = c(16, 16, 3), name = "image")
      output <- input |>
        keras3::layer_conv_2d(8, 3, padding = "same") |>
        keras3::layer_batch_normalization() |>
        keras3::layer_activation("relu") |>
        keras3::layer_max_pooling_2d() |>
        keras3::layer_dropout(0.3) |>
        keras3::layer_flatten() |>
        keras3::layer_dense(4, activation = "softmax", name = "label")
      keras3::keras_model(input, output)
    },
    data = function(n, length) zoo_image(n, 16, seed = n) / 255
  ),
  mobilenet_v3 = list(
    build = function() {
      keras3::set_random_seed(1)
      keras3::application_mobilenet_v3_small(
        input_shape = c(32, 32, 3), weights = NULL, classes = 5, classifier_activation = NULL,
        dropout_rate = 0)
    },
    data = function(n, length) zoo_image(n, seed = n)
  ),
  efficientnet_b0 = list(
    build = function() {
      keras3::set_random_seed(1)
      keras3::application_efficientnet_b0(
        input_shape = c(32, 32, 3), weights = NULL, classes = 5, classifier_activation = NULL)
    },
    data = function(n, length) zoo_image(n, seed = n)
  ),
  resnet50 = list(
    build = function() {
      keras3::set_random_seed(1)
      keras3::application_resnet50(
        input_shape = c(32, 32, 3), weights = NULL, classes = 5, classifier_activation = NULL)
    },
    data = function(n, length) zoo_image(n, seed = n)
  ),
  embedding_masked = list(
    build = function() {
      keras3::set_random_seed(1)
      tokens <- keras3::keras_input(shape = list(NULL), dtype = "int32", name = "tokens")
      output <- tokens |>
        keras3::layer_embedding(30, 8, mask_zero = TRUE) |>
        keras3::layer_global_average_pooling_1d() |>
        keras3::layer_dense(2, name = "score")
      keras3::keras_model(tokens, output)
    },
    data = function(n, length) zoo_tokens(n, length, seed = n)
  ),
  lstm = list(
    build = function() {
      keras3::set_random_seed(1)
      keras3::keras_model_sequential(input_shape = c(NA, 8), name = "forecaster") |>
        keras3::layer_lstm(12) |>
        keras3::layer_dense(1, name = "forecast")
    },
    data = function(n, length) zoo_series(n, length, seed = n)
  ),
  bidirectional_gru = list(
    # keras3's predict() runs the model as a traced graph, where Keras 3.15's
    # TimeDistributed returns as many steps as there are instances (the bug
    # kerasexport mends for its exports): the model called directly is right.
    reference = function(model, x) reticulate::py_to_r(keras()$ops$convert_to_numpy(model(x))),
    build = function() {
      keras3::set_random_seed(1)
      series <- keras3::keras_input(shape = c(NA, 8), name = "series")
      output <- series |>
        keras3::layer_bidirectional(keras3::layer_gru(units = 6, return_sequences = TRUE)) |>
        keras3::layer_time_distributed(keras3::layer_dense(units = 3), name = "tags")
      keras3::keras_model(series, output)
    },
    data = function(n, length) zoo_series(n, length, seed = n)
  ),
  attention = list(
    build = function() {
      keras3::set_random_seed(1)
      sequence <- keras3::keras_input(shape = c(10, 16), name = "sequence")
      attended <- keras3::layer_multi_head_attention(num_heads = 2, key_dim = 8)(sequence, sequence)
      output <- keras3::layer_add(list(sequence, attended)) |>
        keras3::layer_layer_normalization() |>
        keras3::layer_global_average_pooling_1d() |>
        keras3::layer_dense(3, activation = "softmax", name = "label")
      keras3::keras_model(sequence, output)
    },
    data = function(n, length) {
      set.seed(n)
      array(stats::rnorm(n * 10 * 16), c(n, 10, 16))
    }
  ),
  mixed_inputs = list(
    build = function() {
      keras3::set_random_seed(1)
      numeric <- keras3::keras_input(shape = 3, name = "numeric")
      category <- keras3::keras_input(shape = 2, dtype = "int32", name = "category")
      embedded <- category |> keras3::layer_embedding(10, 4) |> keras3::layer_flatten()
      hidden <- keras3::layer_concatenate(list(numeric, embedded)) |>
        keras3::layer_dense(8, activation = "relu")
      keras3::keras_model(
        inputs = list(numeric = numeric, category = category),
        outputs = list(price = hidden |> keras3::layer_dense(1, name = "price"),
                       kind = hidden |> keras3::layer_dense(3, activation = "softmax", name = "kind")))
    },
    data = function(n, length) {
      set.seed(n)
      list(numeric = matrix(stats::runif(n * 3), n, 3),
           category = matrix(sample(0:9, n * 2, replace = TRUE), n, 2))
    }
  ),
  normalization = list(
    build = function() {
      keras3::set_random_seed(1)
      normalize <- keras3::layer_normalization()
      normalize |> keras3::adapt(as.matrix(iris[, 1:4]))
      input <- keras3::keras_input(shape = 4, name = "measurements")
      keras3::keras_model(input, input |> normalize() |>
                            keras3::layer_dense(3, activation = "softmax", name = "species"))
    },
    data = function(n, length) unname(as.matrix(iris[seq_len(n) * 7, 1:4]))
  ),
  string_lookup = list(
    only_tensorflow = TRUE,
    # keras3's predict() hands Keras an R character matrix as a NumPy object
    # array, which Keras refuses ("Invalid dtype: object"); a TensorFlow
    # string tensor is what the model takes.
    reference = function(model, x) {
      tf <- reticulate::import("tensorflow")
      reticulate::py_to_r(model(tf$constant(x))$numpy())
    },
    build = function() {
      keras3::set_random_seed(1)
      lookup <- keras3::layer_string_lookup(vocabulary = c("setosa", "versicolor", "virginica"),
                                            output_mode = "one_hot")
      species <- keras3::keras_input(shape = 1, dtype = "string", name = "species")
      output <- species |> lookup() |> keras3::layer_flatten() |> keras3::layer_dense(2, name = "score")
      keras3::keras_model(species, output)
    },
    data = function(n, length) {
      matrix(rep(c("setosa", "virginica", "unknown", "versicolor"), length.out = n), ncol = 1)
    }
  ),
  r_layer = list(
    build = function() {
      keras3::set_random_seed(3)
      keras3::keras_model_sequential(input_shape = 4) |>
        zoo_scale_by_two()() |>
        keras3::layer_dense(3, name = "scores")
    },
    data = function(n, length) unname(as.matrix(iris[seq_len(n) * 3, 1:4]))
  ),
  trained_saved_loaded = list(
    build = function() {
      keras3::set_random_seed(1)
      model <- keras3::keras_model_sequential(input_shape = 4, name = "iris") |>
        keras3::layer_dense(8, activation = "relu") |>
        keras3::layer_dense(3, activation = "softmax", name = "species")
      model |> keras3::compile(optimizer = "adam", loss = "sparse_categorical_crossentropy")
      model |> keras3::fit(unname(as.matrix(iris[, 1:4])), as.integer(iris$Species) - 1L,
                           epochs = 2, verbose = 0)
      file <- tempfile(fileext = ".keras")
      keras3::save_model(model, file)
      keras3::load_model(file)
    },
    data = function(n, length) unname(as.matrix(iris[seq_len(n) * 5, 1:4]))
  )
)

zoo_files <- c(tf_saved_model = "model", onnx = "model.onnx", litert = "model.tflite",
               openvino = "model.xml", torch = "model.pt2")

# What each cell is expected to be: "works", or the class of the error that
# names why. (Only the cells that are not "works" are listed.)
zoo_expected <- function(model, format, backend) {
  free_time <- model %in% c("lstm", "bidirectional_gru")
  crosses <- (backend == "torch" && format %in% c("tf_saved_model", "litert")) ||
    (backend == "jax" && format %in% c("litert", "torch")) ||
    (backend == "tensorflow" && format == "torch")
  if (model == "string_lookup" && (backend != "tensorflow" || format %in% c("openvino", "torch"))) {
    return("unsupported_combination")
  }
  if (free_time && format %in% c("litert", "torch")) {
    return("unsupported_combination")
  }
  if (model == "bidirectional_gru" && format == "openvino" && backend != "jax") {
    # OpenVINO reads the loop tf2onnx writes for an LSTM, not for a GRU (a
    # torch model's recurrent layers go to ONNX through TensorFlow);
    # jax2onnx writes one it reads.
    return("unsupported_combination")
  }
  if (model == "r_layer" && crosses) {
    return("unsupported_combination") # R code cannot travel to another backend's process
  }
  "works"
}
