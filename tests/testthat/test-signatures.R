test_that("input_spec() builds and prints a spec", {
  spec <- input_spec(c(NA, 28, 28, 1), dtype = "float32", name = "image")
  expect_s3_class(spec, "kerasexport_input_spec")
  expect_output(print(spec), "<input_spec> image: (NA, 28, 28, 1) float32", fixed = TRUE)
  expect_output(print(input_spec(c(NA, 4))), "model's dtype", fixed = TRUE)
  expect_error(input_spec("28"), class = "kerasexport_error_input_signature")
  expect_error(input_spec(c(NA, 4), dtype = 3), class = "kerasexport_error_argument")
})

test_that("several inputs and outputs round-trip", {
  skip_if_no_python()
  data <- list(matrix(runif(10), 5), matrix(runif(10), 5))
  expect_round_trips(model_multi_input(), data, label = "multi-input")
})

test_that("dict inputs and dict outputs round-trip, with a named signature (keras#20835)", {
  skip_if_no_python()
  model <- model_dict_io()
  data <- list(petal = matrix(runif(10), 5), sepal = matrix(runif(10), 5))
  expect_round_trips(model, data, label = "dict, no signature")
  expect_round_trips(model, data, input_signature = list(sepal = c(NA, 2), petal = c(NA, 2)),
                     label = "dict, named signature")
  expect_round_trips(model, data, input_signature = list(c(NA, 2), c(NA, 2)),
                     label = "dict, list signature")
})

test_that("the batch size stays dynamic: batch 1 and 37 from one export", {
  skip_if_no_python()
  model <- small_model()
  paths <- expect_round_trips(model, matrix(runif(4), 1), input_signature = c(NA, 4))
  for (path in paths) {
    expect_true(suppressMessages(verify_artifact(path, model, data = matrix(runif(148), 37)))$passed)
    expect_true(suppressMessages(verify_artifact(path, model, data = matrix(runif(4), 1)))$passed)
  }
})

test_that("integer token ids into an Embedding round-trip", {
  skip_if_no_python()
  tokens <- matrix(sample(0:49, 30, replace = TRUE), 5)
  paths <- expect_round_trips(model_tokens(), tokens,
                              input_signature = input_spec(c(NA, 6), dtype = "int32"))
  if ("onnx" %in% names(paths)) {
    session <- reticulate::import("onnxruntime")$InferenceSession(paths[["onnx"]])
    expect_equal(session$get_inputs()[[1]]$type, "tensor(int32)")
  }
})

test_that("a subclassed model round-trips", {
  skip_if_no_python()
  expect_round_trips(model_subclassed(), matrix(runif(12), 4))
})

test_that("a preprocessing layer adapted on data round-trips", {
  skip_if_no_python()
  expect_round_trips(model_normalized(), as.matrix(iris[, 1:4]))
})

test_that("an unbuilt model is built from input_signature", {
  skip_if_no_python()
  model <- keras()$Sequential(list(keras()$layers$Dense(2L)))
  dir <- withr::local_tempdir()
  path <- file.path(dir, "unbuilt.onnx")
  suppressMessages(export_savedmodel(model, path, format = "onnx", verbose = FALSE,
                                     input_signature = c(NA, 3)))
  expect_true(model$built)
  expect_true(suppressMessages(verify_artifact(path, model))$passed)
})

test_that("malformed signatures are classed errors naming the input, with nothing written", {
  skip_if_no_python()
  model <- model_multi_input()
  dir <- withr::local_tempdir()
  path <- file.path(dir, "model.onnx")
  bad <- function(signature, pattern) {
    expect_error(export_savedmodel(model, path, format = "onnx", input_signature = signature),
                 regexp = pattern, class = "kerasexport_error_input_signature")
  }
  bad(list(c(NA, 2)), "describes 1 input.*has 2: 'sepal', 'petal'")
  bad(list(c(NA, 2), c(NA, 2.5)), "Input '2' of `input_signature` has dimension 2 = 2.5")
  bad(list(c(NA, 2), c(NA, -2)), "Input '2' of `input_signature` has dimension 2 = -2")
  bad(list(sepal = c(NA, 2), petal = c(NA, 0)), "Input 'petal' of `input_signature` has dimension 2 = 0")
  bad(list(sepal = c(NA, 2), leaf = c(NA, 2)), "does not have: 'leaf'")
  bad(list(c(NA, 2), input_spec(c(NA, 2), dtype = "float99")), "unknown dtype 'float99'")
  bad(list(c(NA, 2), c(NA, 2, 1)), "input 2 \\('petal'\\) has rank 3.*expects rank 2")
  bad(list(c(NA, 2), "x"), "Element 2")
  bad(list(sepal = c(NA, 2), c(NA, 2)), "some elements named")
  bad(mean, "must be a shape")
  expect_equal(folder_contents(dir), character())
})

test_that("clients see the model's input and output names", {
  skip_if_no_python()
  model <- model_multi_input()
  paths <- expect_round_trips(model, list(matrix(1, 2, 2), matrix(2, 2, 2)))
  onnx_path <- paths[["onnx"]]
  session <- reticulate::import("onnxruntime")$InferenceSession(onnx_path)
  expect_equal(vapply(session$get_inputs(), function(i) i$name, ""), c("sepal", "petal"))
  expect_equal(vapply(session$get_outputs(), function(o) o$name, ""), c("species", "size"))
  record <- suppressMessages(artifact_info(onnx_path))$kerasexport
  expect_equal(unlist(record$inputs), c("sepal", "petal"))
  expect_equal(unlist(record$outputs), c("species", "size"))
  expect_equal(record$backend, test_backend())

  if ("tf_saved_model" %in% names(paths)) {
    tf <- reticulate::import("tensorflow")
    loaded <- tf$saved_model$load(paths[["tf_saved_model"]])
    serving <- loaded$signatures[["serving_default"]]
    result <- serving(sepal = tf$constant(matrix(1, 2, 2), dtype = "float32"),
                      petal = tf$constant(matrix(2, 2, 2), dtype = "float32"))
    expect_setequal(names(result), c("species", "size"))
    expected <- model(list(matrix(1, 2, 2), matrix(2, 2, 2)))
    expect_equal(as.array(result$species$numpy()), as.array(keras()$ops$convert_to_numpy(expected[[1]])),
                 tolerance = 1e-5)
    # Keras' documented endpoint still works.
    served <- loaded$serve(list(tf$constant(matrix(1, 2, 2), dtype = "float32"),
                                tf$constant(matrix(2, 2, 2), dtype = "float32")))
    expect_length(served, 2)
    record <- jsonlite::fromJSON(file.path(paths[["tf_saved_model"]], "assets.extra", "kerasexport.json"))
    expect_equal(record$outputs, c("species", "size"))
    info <- as.data.frame(suppressMessages(artifact_info(paths[["tf_saved_model"]])))
    serving <- info[info$endpoint == "serving_default", ]
    expect_equal(serving$name, c("sepal", "petal", "species", "size"))
  }
})

test_that("model_names = FALSE keeps Keras' own names", {
  skip_if_no_python()
  model <- model_multi_input()
  path <- file.path(withr::local_tempdir(), "keras-names.onnx")
  suppressMessages(export_savedmodel(model, path, format = "onnx", verbose = FALSE,
                                     model_names = FALSE))
  session <- reticulate::import("onnxruntime")$InferenceSession(path)
  expect_false(identical(vapply(session$get_outputs(), function(o) o$name, ""), c("species", "size")))
  expect_true(suppressMessages(verify_artifact(path, model, data = list(matrix(1, 2, 2), matrix(2, 2, 2))))$passed)
})

test_that("every R spelling of a shape works in input_signature and in input_spec()", {
  skip_if_no_keras3()
  skip_if_no_python()
  model <- small_model()
  dir <- withr::local_tempdir()
  spellings <- list(
    vector = c(NA, 4), list = list(NULL, 4), keras3 = keras3::shape(NA, 4),
    spec_vector = input_spec(c(NA, 4)), spec_list = input_spec(list(NULL, 4)),
    spec_keras3 = input_spec(keras3::shape(NA, 4)),
    keras_input = keras3::keras_input(shape = 4),
    input_spec_py = keras()$InputSpec(shape = list(NULL, 4L)),
    tensor_spec = reticulate::import("tensorflow")$TensorSpec(list(NULL, 4L), "float32"),
    in_a_list = list(keras3::keras_input(shape = 4))
  )
  x <- as.matrix(iris[1:3, 1:4])
  for (name in names(spellings)) {
    path <- file.path(dir, paste0(name, ".onnx"))
    suppressMessages(export_savedmodel(model, path, format = "onnx", verbose = FALSE,
                                       input_signature = spellings[[name]]))
    artifact <- load_savedmodel(path)
    inputs <- artifact$info$endpoints[[1]]$inputs
    expect_equal(inputs[[1]]$shape, list(NULL, 4L), label = name)
    expect_equal(inputs[[1]]$name, "features", label = paste(name, "keeps the model's name"))
    expect_equal(dim(predict(artifact, x)), c(3, 3), label = name)
  }
  expect_equal(input_spec(list(NULL, 28, 28, 1))$shape, c(NA, 28, 28, 1))
  expect_error(input_spec(list("a", 4)), class = "kerasexport_error_input_signature")
  # A lone spec for a model with two inputs names the count.
  error <- expect_error(suppressMessages(export_savedmodel(
    model_multi_input(), file.path(dir, "two.onnx"), format = "onnx",
    input_signature = keras3::keras_input(shape = 2))), class = "kerasexport_error_input_signature")
  expect_match(conditionMessage(error), "2")
})
