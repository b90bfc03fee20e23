# The server from R, for real: a separate process, a real HTTP client (curl).

test_that("serve_savedmodel() serves TF-Serving's REST API from a separate process", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  model <- small_model()
  base <- file.path(withr::local_tempdir(), "iris")
  expect_message(export_savedmodel(model, base, version = "auto", verbose = FALSE),
                 class = "kerasexport_exported_version")
  server <- serve_savedmodel(base, port = free_port())
  withr::defer(server$stop())
  expect_equal(server$status(), "serving")
  expect_output(print(server), "serving")
  expect_true(server$process$is_alive())

  status <- http_request(paste0(server$url, "/v1/models/iris"))
  expect_equal(status$status, 200)
  expect_equal(status$body$model_version_status[[1]]$version, "1")
  metadata <- http_request(paste0(server$url, "/v1/models/iris/metadata"))
  signature <- metadata$body$metadata$signature_def$signature_def$serving_default
  expect_named(signature$inputs, "features")

  x <- as.matrix(iris[1:3, 1:4])
  want <- reticulate::py_to_r(keras()$ops$convert_to_numpy(model(x)))
  answer <- http_request(paste0(server$url, "/v1/models/iris:predict"),
                      jsonlite::toJSON(list(instances = unname(split(x, row(x)))), digits = NA))
  expect_equal(answer$status, 200)
  expect_equal(do.call(rbind, lapply(answer$body$predictions, unlist)), want,
               tolerance = 1e-5, ignore_attr = TRUE)
  columnar <- http_request(paste0(server$url, "/v1/models/iris/versions/1:predict"),
                        jsonlite::toJSON(list(inputs = list(features = x)), digits = NA))
  expect_equal(do.call(rbind, lapply(columnar$body$outputs, unlist)), want,
               tolerance = 1e-5, ignore_attr = TRUE)
  via_r <- predict_savedmodel(x, server)
  expect_equal(do.call(rbind, via_r$predictions), want, tolerance = 1e-5, ignore_attr = TRUE)

  bad <- http_request(paste0(server$url, "/v1/models/iris:predict"), "{\"instances\": [[1, 2]]}")
  expect_equal(bad$status, 400)
  expect_match(bad$body$error, "axis 1")
  expect_error(predict_savedmodel(matrix(1, 1, 2), server), class = "kerasexport_error_serve")

  # A new version written while it runs is picked up.
  suppressMessages(export_savedmodel(small_model(seed = 5L), base, version = "auto", verbose = FALSE))
  deadline <- Sys.time() + 60
  repeat {
    version <- http_request(paste0(server$url, "/v1/models/iris"))$body$model_version_status[[1]]$version
    if (version == "2" || Sys.time() > deadline) break
    Sys.sleep(0.2)
  }
  expect_equal(version, "2")
  server$stop()
  expect_equal(server$status(), "stopped")
})

test_that("the server never outlives the R session that started it", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  path <- file.path(withr::local_tempdir(), "model.onnx")
  suppressMessages(export_savedmodel(small_model(), path, format = "onnx", verbose = FALSE))
  port <- free_port()
  session <- callr::r_bg(function(path, port) {
    server <- kerasexport::serve_savedmodel(path, port = port)
    writeLines(as.character(server$process$get_pid()), file.path(dirname(path), "pid"))
    Sys.sleep(600)
  }, args = list(path = path, port = port), env = c(callr::rcmd_safe_env(), KERAS_BACKEND = "tensorflow"))
  pid_file <- file.path(dirname(path), "pid")
  deadline <- Sys.time() + 120
  while (!file.exists(pid_file) && Sys.time() < deadline) Sys.sleep(0.2)
  server_pid <- as.integer(readLines(pid_file))
  expect_true(tools::pskill(server_pid, 0))
  session$kill() # SIGKILL: R cannot clean up; the server must notice alone
  deadline <- Sys.time() + 15
  while (tools::pskill(server_pid, 0) && Sys.time() < deadline) Sys.sleep(0.2)
  expect_false(tools::pskill(server_pid, 0))
})

test_that("blocking mode serves until SIGTERM, then stops cleanly", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  path <- file.path(withr::local_tempdir(), "model.onnx")
  suppressMessages(export_savedmodel(small_model(), path, format = "onnx", verbose = FALSE))
  port <- free_port()
  script <- sprintf("kerasexport::serve_savedmodel('%s', port = %d, block = TRUE)", path, port)
  blocking <- processx::process$new(file.path(R.home("bin"), "Rscript"), c("-e", script),
                                    env = c("current", KERAS_BACKEND = "tensorflow"),
                                    stdout = "|", stderr = "|", cleanup_tree = TRUE)
  withr::defer(blocking$kill_tree())
  url <- sprintf("http://127.0.0.1:%d/v1/models/model", port)
  deadline <- Sys.time() + 120
  repeat {
    answer <- tryCatch(curl::curl_fetch_memory(url)$status_code, error = function(e) NA)
    if (identical(answer, 200L) || Sys.time() > deadline) break
    Sys.sleep(0.3)
  }
  expect_equal(answer, 200L)
  blocking$signal(15L)
  blocking$wait(20000)
  expect_false(blocking$is_alive())
  deadline <- Sys.time() + 15
  repeat {
    answer <- tryCatch(curl::curl_fetch_memory(url)$status_code, error = function(e) NA)
    if (is.na(answer) || Sys.time() > deadline) break
    Sys.sleep(0.3)
  }
  expect_true(is.na(answer)) # nothing listens any more
})

test_that("serve_savedmodel() checks its arguments", {
  expect_error(serve_savedmodel(file.path(tempdir(), "nothing-here")), class = "kerasexport_error_artifact")
  expect_error(serve_savedmodel(tempdir(), port = "80"), class = "kerasexport_error_argument")
})

test_that("a port held by a program that does not speak HTTP is refused at once", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  path <- file.path(withr::local_tempdir(), "model.onnx")
  suppressMessages(export_savedmodel(small_model(), path, format = "onnx", verbose = FALSE))
  port <- free_port()
  listener <- serverSocket(port) # accepts connections, never answers
  withr::defer(close(listener))
  started <- Sys.time()
  error <- expect_error(serve_savedmodel(path, port = port, timeout = 30),
                        class = "kerasexport_error_serve")
  expect_lt(as.numeric(Sys.time() - started, units = "secs"), 10)
  expect_match(conditionMessage(error), "already in use")
})

test_that("a server that cannot start says why, as a classed error", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  path <- file.path(withr::local_tempdir(), "model.onnx")
  suppressMessages(export_savedmodel(small_model(), path, format = "onnx", verbose = FALSE))
  # An address this machine does not have: the process starts, then cannot bind.
  error <- expect_error(serve_savedmodel(path, host = "192.0.2.1", port = free_port(), timeout = 60),
                        class = "kerasexport_error_serve")
  expect_match(conditionMessage(error), "stopped before it served")
  expect_false(grepl("Traceback", conditionMessage(error)))
  expect_true(file.exists(error$log))
})

test_that("the server logs to a bounded file, and keeps serving through garbage", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  path <- file.path(withr::local_tempdir(), "model.onnx")
  suppressMessages(export_savedmodel(small_model(), path, format = "onnx", verbose = FALSE))
  server <- serve_savedmodel(path, port = free_port())
  withr::defer(server$stop())
  expect_true(file.exists(server$log))
  expect_output(print(server), "log:")
  port <- as.integer(sub(".*:", "", server$url))
  # Malformed requests, each logged by the server: far more than a pipe's
  # 64 KB of log lines would take.
  for (i in 1:600) {
    connection <- socketConnection("127.0.0.1", port, open = "r+b", blocking = TRUE, timeout = 5)
    writeBin(charToRaw("POST /v1/models/model:predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
             connection)
    readBin(connection, "raw", 4096)
    close(connection)
  }
  expect_equal(server$status(), "serving")
  answer <- predict_savedmodel(matrix(1, 1, 4), server)
  expect_length(answer$predictions, 1)
  expect_lt(file.size(server$log), 2 * 1024^2)
})

test_that("the server speaks the Open Inference Protocol (V2) too, from R", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  model <- small_model()
  path <- file.path(withr::local_tempdir(), "iris.onnx")
  suppressMessages(export_savedmodel(model, path, format = "onnx", verbose = FALSE))
  server <- serve_savedmodel(path, port = free_port())
  withr::defer(server$stop())
  x <- as.matrix(iris[1:4, 1:4])
  want <- reticulate::py_to_r(keras()$ops$convert_to_numpy(model(x)))
  expect_equal(predict(server, x, protocol = "v2"), want, tolerance = 1e-5, ignore_attr = TRUE)
  expect_equal(predict(server, x), want, tolerance = 1e-5, ignore_attr = TRUE)
  v2 <- predict_savedmodel(x, server, protocol = "v2")
  expect_equal(do.call(rbind, lapply(v2$predictions, `[[`, 1)), want, tolerance = 1e-5,
               ignore_attr = TRUE)
  by_url <- predict_savedmodel(x, paste0(server$url, "/v2/models/iris"), protocol = "v2")
  expect_equal(by_url$predictions, v2$predictions)
  expect_error(predict_savedmodel(x, paste0(server$url, "/v1/models/iris"), protocol = "v2"),
               class = "kerasexport_error_argument")
  expect_error(predict(server, matrix(1, 2, 3), protocol = "v2"), class = "kerasexport_error_serve")
  expect_error(predict(server, x, protocol = "v3"), class = "kerasexport_error_argument")
  health <- curl::curl_fetch_memory(paste0(server$url, "/v2/health/ready"))
  expect_equal(health$status_code, 200L)
})

test_that("one server serves several models, gRPC beside REST, batching and metrics", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  dir <- withr::local_tempdir()
  first <- small_model(seed = 1L)
  second <- small_model(seed = 2L)
  suppressMessages({
    export_savedmodel(first, file.path(dir, "first"), version = 1, verbose = FALSE)
    export_savedmodel(second, file.path(dir, "second.onnx"), format = "onnx", verbose = FALSE)
  })
  grpc_port <- free_port()
  server <- serve_savedmodel(list(first = file.path(dir, "first"), second = file.path(dir, "second.onnx")),
                             port = free_port(), grpc_port = grpc_port, max_batch_size = 16)
  withr::defer(server$stop())
  expect_equal(server$models, c("first", "second"))
  expect_equal(server$grpc, paste0("127.0.0.1:", grpc_port))
  expect_output(print(server), "gRPC")
  x <- as.matrix(iris[1:3, 1:4])
  for (name in c("first", "second")) {
    model <- if (name == "first") first else second
    want <- reticulate::py_to_r(keras()$ops$convert_to_numpy(model(x)))
    expect_equal(predict(server, x, model = name), want, tolerance = 1e-5, ignore_attr = TRUE)
    expect_equal(predict(server, x, model = name, protocol = "v2"), want, tolerance = 1e-5,
                 ignore_attr = TRUE)
  }
  expect_error(predict(server, x, model = "third"), class = "kerasexport_error_argument")
  metrics <- rawToChar(curl::curl_fetch_memory(paste0(server$url, "/metrics"))$content)
  expect_match(metrics, 'kerasexport_requests_total\\{code="200",model="second",protocol="v2",version="1"\\} 1')
  # The gRPC port speaks the Open Inference Protocol to Triton's own client.
  client <- triton_client_python()
  skip_if(is.null(client), "tritonclient is not installed")
  script <- sprintf('
import numpy as np, tritonclient.grpc as g
c = g.InferenceServerClient("%s")
t = g.InferInput("features", [1, 4], "FP32"); t.set_data_from_numpy(np.array([[5.1, 3.5, 1.4, 0.2]], "float32"))
print(c.infer("second", [t]).as_numpy(c.get_model_metadata("second").outputs[0].name).tolist())', server$grpc)
  out <- processx::run(client, c("-c", script), error_on_status = FALSE)
  expect_equal(out$status, 0, label = out$stderr)
  want <- reticulate::py_to_r(keras()$ops$convert_to_numpy(second(x[1, , drop = FALSE])))
  expect_equal(as.vector(jsonlite::fromJSON(out$stdout)), as.vector(want), tolerance = 1e-5)
})

test_that("a TF-Serving model config file names the models", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  skip_if_not(reticulate::py_module_available("tensorflow_serving"), "tensorflow-serving-api is not installed")
  dir <- withr::local_tempdir()
  suppressMessages({
    for (v in 1:2) export_savedmodel(small_model(seed = v), file.path(dir, "iris"), format = "onnx",
                                     version = v, verbose = FALSE)
  })
  config <- file.path(dir, "models.config")
  writeLines(sprintf('model_config_list { config { name: "iris" base_path: "%s"
    model_version_policy { all {} } version_labels { key: "stable" value: 1 } } }',
                     file.path(dir, "iris")), config)
  server <- serve_savedmodel(model_config_file = config, port = free_port())
  withr::defer(server$stop())
  expect_equal(server$models, "iris")
  stable <- http_request(paste0(server$url, "/v1/models/iris/labels/stable:predict"),
                         '{"instances": [[1, 2, 3, 4]]}')
  one <- http_request(paste0(server$url, "/v1/models/iris/versions/1:predict"),
                      '{"instances": [[1, 2, 3, 4]]}')
  expect_equal(stable, one)
  expect_error(serve_savedmodel(list("a", "b")), class = "kerasexport_error_argument")
})
