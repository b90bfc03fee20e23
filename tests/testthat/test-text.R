# Text inputs end to end on a SavedModel, as TF-Serving users send raw text:
# exported and verified with character data, predicted from R with
# character vectors and matrices, served over TF-Serving's REST API (JSON
# strings and {"b64": ...}) and the Open Inference Protocol (BYTES, in JSON
# and in the binary tensor data extension Triton's client uses).

# The zoo's text model (helper-zoo.R), and how its answers are had.
text_model <- zoo_models$string_lookup$build
text_model_predict <- function(model, words) {
  zoo_models$string_lookup$reference(model, matrix(words, ncol = 1))
}

test_that("a text model is exported, verified and predicted from R with character data", {
  skip_if_no_keras3()
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  skip_in_second_load_order()
  model <- text_model()
  words <- c("setosa", "virginica", "a word it has never seen", "versicolor")
  want <- text_model_predict(model, words)
  dir <- withr::local_tempdir()
  for (format in c("tf_saved_model", "onnx", "litert")) {
    path <- file.path(dir, zoo_files[[format]])
    suppressMessages(export_savedmodel(model, path, format = format, verbose = FALSE, verify = TRUE))
    check <- suppressMessages(verify_artifact(path, model, data = matrix(words, ncol = 1)))
    expect_true(check$passed, label = format)
    artifact <- suppressMessages(load_savedmodel(path))
    expect_equal(predict(artifact, words), want, tolerance = 1e-5, ignore_attr = TRUE,
                 label = paste(format, "vector"))
    expect_equal(predict(artifact, matrix(words, ncol = 1)), want, tolerance = 1e-5,
                 ignore_attr = TRUE, label = paste(format, "matrix"))
    expect_equal(predict(artifact, factor(words)), want, tolerance = 1e-5, ignore_attr = TRUE,
                 label = paste(format, "factor"))
  }
  expect_error(predict(artifact, c("setosa", NA)), class = "kerasexport_error_predict_input")
  expect_error(suppressMessages(export_savedmodel(model, file.path(dir, "m.xml"), format = "openvino")),
               class = "kerasexport_error_unsupported_combination")
})

test_that("text is served over TF-Serving's REST API and the Open Inference Protocol", {
  skip_if_no_keras3()
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  skip_in_second_load_order()
  model <- text_model()
  words <- c("setosa", "virginica", "unseen")
  want <- text_model_predict(model, words)
  path <- file.path(withr::local_tempdir(), "species")
  suppressMessages(export_savedmodel(model, path, verbose = FALSE))
  server <- serve_savedmodel(path, port = free_port())
  withr::defer(server$stop())

  rows <- http_request(paste0(server$url, "/v1/models/species:predict"),
                         '{"instances": [["setosa"], ["virginica"], ["unseen"]]}')
  expect_equal(rows$status, 200)
  expect_equal(do.call(rbind, lapply(rows$body$predictions, unlist)), want, tolerance = 1e-5,
               ignore_attr = TRUE)
  b64 <- http_request(paste0(server$url, "/v1/models/species:predict"), sprintf(
    '{"instances": [[{"b64": "%s"}]]}', jsonlite::base64_enc(charToRaw("virginica"))))
  expect_equal(b64$status, 200)
  expect_equal(unlist(b64$body$predictions[[1]]), want[2, ], tolerance = 1e-5)
  bad <- http_request(paste0(server$url, "/v1/models/species:predict"), '{"instances": [[3]]}')
  expect_equal(bad$status, 400)
  expect_match(bad$body$error, "takes text")

  # From R, over both protocols.
  expect_equal(predict(server, matrix(words, ncol = 1)), want, tolerance = 1e-5, ignore_attr = TRUE)
  expect_equal(predict(server, words, protocol = "v2"), want, tolerance = 1e-5, ignore_attr = TRUE)
  v2 <- http_request(paste0(server$url, "/v2/models/species/infer"),
                       '{"inputs": [{"name": "species", "shape": [2, 1], "datatype": "BYTES", "data": ["setosa", "unseen"]}]}')
  expect_equal(v2$status, 200)
  expect_equal(unlist(v2$body$outputs[[1]]$data), as.vector(t(want[c(1, 3), ])), tolerance = 1e-5)

  # Triton's own client, with its binary tensor data extension for BYTES.
  client <- triton_client_python()
  skip_if(is.null(client), "tritonclient is not installed")
  script <- sprintf('
import json, numpy as np, tritonclient.http as http
client = http.InferenceServerClient("%s")
tensor = http.InferInput("species", [3, 1], "BYTES")
tensor.set_data_from_numpy(np.array([[b"setosa"], [b"virginica"], [b"unseen"]], dtype=object))
result = client.infer("species", [tensor])
print(json.dumps(result.as_numpy("score").tolist()))', sub("^http://", "", server$url))
  out <- processx::run(client, c("-c", script), error_on_status = FALSE)
  expect_equal(out$status, 0, label = out$stderr)
  expect_equal(do.call(rbind, jsonlite::fromJSON(out$stdout, simplifyVector = FALSE) |>
                         lapply(unlist)), want, tolerance = 1e-5, ignore_attr = TRUE)
})
