# Models made the keras3 way, with the real keras3 package: exported with
# R-style arguments to every format this backend can write, verified in a
# fresh Python process (no R, no Keras), reloaded from R and compared with
# keras3's own predict().

iris_x <- function() unname(as.matrix(iris[, 1:4]))

keras3_sequential <- function() {
  keras3::set_random_seed(1)
  keras3::keras_model_sequential(input_shape = 4, name = "iris") |>
    keras3::layer_dense(8, activation = "relu") |>
    keras3::layer_dense(3, activation = "softmax", name = "species")
}

keras3_trained <- function() {
  model <- keras3_sequential()
  model |> keras3::compile(optimizer = "adam", loss = "sparse_categorical_crossentropy")
  model |> keras3::fit(iris_x(), as.integer(iris$Species) - 1L, epochs = 2, batch_size = 32,
                       verbose = 0)
  model
}

keras3_named_io <- function() {
  keras3::set_random_seed(2)
  sepal <- keras3::keras_input(shape = 2, name = "sepal")
  petal <- keras3::keras_input(shape = 2, name = "petal")
  joined <- keras3::layer_concatenate(list(sepal, petal))
  hidden <- joined |> keras3::layer_dense(6, activation = "relu")
  keras3::keras_model(
    inputs = list(sepal = sepal, petal = petal),
    outputs = list(species = hidden |> keras3::layer_dense(3, activation = "softmax", name = "species"),
                   size = hidden |> keras3::layer_dense(1, name = "size"))
  )
}

# A layer whose call() is R code: the export traces it, so the artifact
# needs no R.
keras3_r_layer <- function() {
  layer_scale <- keras3::Layer(
    "ScaleByTwo",
    call = function(inputs) inputs * 2 + 1
  )
  keras3::set_random_seed(3)
  keras3::keras_model_sequential(input_shape = 4) |>
    layer_scale() |>
    keras3::layer_dense(3, name = "scores")
}

expect_keras3_round_trip <- function(model, data, signature = NULL, label = "") {
  want <- stats::predict(model, data, verbose = 0)
  dir <- withr::local_tempdir(.local_envir = parent.frame())
  for (format in backend_formats()) {
    path <- file.path(dir, if (format == "onnx") "model.onnx" else "model")
    extra <- if (format == "onnx") list(opset_version = 17) else list()
    suppressMessages(do.call(export_savedmodel, c(
      list(model, path, format = format, verbose = FALSE, input_signature = signature), extra)))
    check <- suppressMessages(verify_artifact(path, model, data = data))
    expect_true(check$passed, label = paste(label, format, "verify"))
    if (format == "onnx") {
      # onnxruntime alone ran it. (TensorFlow imports Keras when it loads a
      # SavedModel, so that check means nothing for SavedModels.)
      expect_equal(check$fresh_process_modules, "onnxruntime", label = paste(label, "fresh process"))
    }
    got <- suppressMessages(predict(load_savedmodel(path), data))
    if (is.list(want)) {
      for (output in names(want)) {
        expect_equal(got[[output]], want[[output]], tolerance = 1e-5, ignore_attr = TRUE,
                     label = paste(label, format, output))
      }
    } else {
      expect_equal(got, want, tolerance = 1e-5, ignore_attr = TRUE, label = paste(label, format))
    }
  }
}

test_that("keras_model_sequential() trained with fit() on iris round-trips", {
  skip_if_no_keras3()
  skip_if_no_python()
  expect_keras3_round_trip(keras3_trained(), iris_x(), signature = c(NA, 4), label = "fit")
})

test_that("keras_model() with named inputs and outputs round-trips by name", {
  skip_if_no_keras3()
  skip_if_no_python()
  data <- list(sepal = iris_x()[, 1:2], petal = iris_x()[, 3:4])
  expect_keras3_round_trip(keras3_named_io(), data,
                           signature = list(sepal = c(NA, 2), petal = c(NA, 2)), label = "named")
})

test_that("a layer written in R is traced into a standalone artifact", {
  skip_if_no_keras3()
  skip_if_no_python()
  expect_keras3_round_trip(keras3_r_layer(), iris_x(), label = "R layer")
})

test_that("a model saved with save_model() and loaded with load_model() round-trips", {
  skip_if_no_keras3()
  skip_if_no_python()
  file <- file.path(withr::local_tempdir(), "iris.keras")
  keras3::save_model(keras3_trained(), file)
  expect_keras3_round_trip(keras3::load_model(file), iris_x(), label = "load_model")
})

test_that("the keras3 documentation's example runs verbatim", {
  skip_if_no_keras3()
  skip_if_no_python()
  model <- keras3_sequential()
  withr::local_dir(withr::local_tempdir())
  # On torch, the SavedModel is written through TensorFlow.
  suppressMessages(model |> export_savedmodel("path/to/location"))
  tf <- reticulate::import("tensorflow")
  reloaded_artifact <- tf$saved_model$load("path/to/location")
  input_data <- iris_x()[1:5, ]
  predictions <- reloaded_artifact$serve(input_data)
  expect_equal(as.array(predictions), stats::predict(model, input_data, verbose = 0),
               tolerance = 1e-5, ignore_attr = TRUE)
  suppressMessages(model |> export_savedmodel("path/to/location.onnx", format = "onnx"))
  onnxruntime <- reticulate::import("onnxruntime")
  ort_session <- onnxruntime$InferenceSession("path/to/location.onnx")
  input_data <- list(reticulate::np_array(iris_x()[1:5, ], dtype = "float32"))
  names(input_data) <- sapply(ort_session$get_inputs(), `[[`, "name")
  predictions <- ort_session$run(NULL, input_data)
  expect_equal(predictions[[1]], stats::predict(model, iris_x()[1:5, ], verbose = 0),
               tolerance = 1e-5, ignore_attr = TRUE)
})

test_that("every spelling of the call runs kerasexport's method, and says so once", {
  skip_in_second_load_order()
  skip_if_no_keras3()
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  spellings <- c(
    "model |> export_savedmodel(file.path(dir, 'piped'))",
    "tensorflow::export_savedmodel(model, file.path(dir, 'tensorflow'))",
    "keras3::export_savedmodel(model, file.path(dir, 'keras3'))",
    "kerasexport::export_savedmodel(model, file.path(dir, 'kerasexport'))"
  )
  for (first in c("keras3", "kerasexport")) {
    packages <- if (first == "keras3") c("keras3", "kerasexport") else c("kerasexport", "keras3")
    result <- run_fresh_r(function(packages, spellings, dir) {
      messages <- character()
      withCallingHandlers({
        for (p in packages) library(p, character.only = TRUE)
        model <- keras3::keras_model_sequential(input_shape = 4) |> keras3::layer_dense(2)
        for (spelling in spellings) eval(parse(text = spelling))
      }, message = function(m) {
        messages <<- c(messages, conditionMessage(m))
        invokeRestart("muffleMessage")
      })
      written <- list.files(dir)
      list(written = written,
           ours = vapply(written, function(f) file.exists(file.path(dir, f, "assets.extra", "kerasexport.json")), TRUE),
           messages = messages)
    }, args = list(packages = packages, spellings = spellings, dir = withr::local_tempdir()),
    env = c(KERAS_BACKEND = "tensorflow"))
    expect_setequal(result$written, c("piped", "tensorflow", "keras3", "kerasexport"))
    expect_true(all(result$ours), label = paste(first, "first"))
    expect_length(grep("replaces the one from keras3", result$messages), 1)
  }
})

test_that("one Python serves both packages in a fresh session with no variables set", {
  skip_in_second_load_order()
  skip_if_no_keras3()
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  for (packages in list(c("keras3", "kerasexport"), c("kerasexport", "keras3"))) {
    result <- callr::r(function(packages) {
      for (p in packages) suppressPackageStartupMessages(library(p, character.only = TRUE))
      model <- keras3::keras_model_sequential(input_shape = 4) |> keras3::layer_dense(2)
      path <- file.path(tempfile(), "m.onnx")
      suppressMessages(export_savedmodel(model, path, format = "onnx"))
      list(python = reticulate::py_config()$python, exported = file.exists(path))
    }, args = list(packages = packages),
    # A user's R: no RETICULATE_PYTHON, no KERASEXPORT_PYTHON, no VIRTUAL_ENV.
    env = c(callr::rcmd_safe_env()[!names(callr::rcmd_safe_env()) %in%
                                     c("RETICULATE_PYTHON", "KERASEXPORT_PYTHON", "VIRTUAL_ENV")],
            KERAS_BACKEND = "tensorflow"), wd = tempdir())
    expect_true(result$exported, label = paste(packages, collapse = " then "))
    expect_equal(normalizePath(result$python),
                 normalizePath(reticulate::virtualenv_python("r-kerasexport")),
                 label = paste(packages, collapse = " then "))
  }
})

test_that("an unknown object gets the classed error through every generic, never a recursion", {
  skip_if_no_keras3()
  generics <- list(kerasexport::export_savedmodel, tensorflow::export_savedmodel,
                   keras3::export_savedmodel)
  for (generic in generics) {
    expect_error(generic(list(), tempfile()), class = "kerasexport_error_invalid_model")
    expect_error(generic(42, tempfile()), class = "kerasexport_error_invalid_model")
  }
  skip_if_no_python()
  tf <- reticulate::import("tensorflow")
  expect_error(tensorflow::export_savedmodel(tf$Module(), tempfile()),
               class = "kerasexport_error_invalid_model")
})
