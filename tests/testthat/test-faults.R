# Faults an unlucky user meets, from R: damaged artifacts, folders that
# cannot be written to, a hung server, a failing export with verbose = FALSE.
# (inst/python/tests/test_faults.py kills and races exports.)

test_that("a damaged SavedModel is a classed error that names the path and the damage", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  dir <- withr::local_tempdir()
  model <- small_model()
  path <- file.path(dir, "model")
  suppressMessages(export_savedmodel(model, path, verbose = FALSE))
  unlink(file.path(path, "variables"), recursive = TRUE)
  calls <- list(
    verify = function() verify_artifact(path, model),
    load = function() load_savedmodel(path),
    predict = function() predict_savedmodel(iris[1:2, 1:4], path),
    info = function() artifact_info(path)
  )
  for (name in names(calls)) {
    error <- expect_error(suppressMessages(calls[[name]]()),
                          class = "kerasexport_error_damaged_artifact", label = name)
    expect_s3_class(error, "kerasexport_error_artifact")
    expect_match(conditionMessage(error), "variables", label = name)
    expect_match(conditionMessage(error), basename(dir), fixed = TRUE, label = name)
    expect_no_match(conditionMessage(error), "Traceback", label = name)
  }
  writeBin(as.raw(0:255), file.path(path, "saved_model.pb"))
  error <- expect_error(suppressMessages(verify_artifact(path, model)),
                        class = "kerasexport_error_damaged_artifact")
  expect_match(conditionMessage(error), "saved_model.pb")
})

test_that("a folder that cannot be written to is named, never the staging folder", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  for (path in c("/proc/model.onnx", "/sys/kernel/model.onnx")) {
    error <- expect_error(suppressMessages(export_savedmodel(small_model(), path, format = "onnx")),
                          class = "kerasexport_error_artifact")
    expect_match(conditionMessage(error), path, fixed = TRUE)
    expect_no_match(conditionMessage(error), "kerasexport-")
  }
})

test_that("a hung server is a classed timeout, and its status says it is not answering", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  skip_on_os("windows")
  path <- file.path(withr::local_tempdir(), "iris.onnx")
  suppressMessages(export_savedmodel(small_model(), path, format = "onnx", verbose = FALSE))
  server <- serve_savedmodel(path, port = free_port())
  withr::defer(server$stop())
  x <- as.matrix(iris[1:2, 1:4])
  expect_equal(dim(predict(server, x)), c(2, 3))
  server$process$signal(tools::SIGSTOP)
  withr::defer(server$process$signal(tools::SIGCONT), priority = "first")
  started <- Sys.time()
  error <- expect_error(predict(server, x, timeout = 2), class = "kerasexport_error_server_timeout")
  expect_s3_class(error, "kerasexport_error_serve")
  expect_lt(as.numeric(Sys.time() - started, units = "secs"), 30)
  expect_error(predict_savedmodel(x, server, timeout = 2), class = "kerasexport_error_server_timeout")
  expect_error(predict(server, x, protocol = "v2", timeout = 2),
               class = "kerasexport_error_server_timeout")
  expect_equal(server$status(), "not answering")
  server$process$signal(tools::SIGCONT)
  expect_equal(dim(predict(server, x)), c(2, 3))
  expect_equal(server$status(), "serving")
})

# A model whose export fails inside the exporter's trace on every backend,
# with what exporters print then: a long message full of this machine's
# paths (torch's exporter prints its whole traced graph).
model_that_fails_when_traced <- function() {
  reticulate::py_run_string("
import sys
import keras

class FailsWhenTraced(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3)

    def call(self, x):
        backend = keras.backend.backend()
        if backend == 'tensorflow':
            import tensorflow as tf
            traced = not tf.executing_eagerly()
        elif backend == 'jax':
            import jax
            traced = isinstance(x, jax.core.Tracer)
        else:
            import torch
            traced = torch.jit.is_tracing() or torch.compiler.is_compiling()
        if traced:
            print('\\n'.join(f'%{i} : Float(*, 4) = aten::to(%x) # {sys.prefix}/lib/site.py:{i}'
                            for i in range(250)))
            raise ValueError('cannot be traced:\\n' + '\\n'.join(
                f'  File \"{sys.prefix}/lib/python3.11/site-packages/keras/x.py\", line {i}'
                for i in range(250)))
        return self.dense(x)
")
  model <- reticulate::import_main()$FailsWhenTraced()
  model(reticulate::np_array(matrix(0, 1, 4), dtype = "float32"))
  model
}

test_that("a failing export with verbose = FALSE prints nothing, and its error carries no local path", {
  skip_if_no_python()
  dir <- withr::local_tempdir()
  printed <- character()
  error <- withCallingHandlers(
    expect_error(export_savedmodel(model_that_fails_when_traced(), file.path(dir, "m.onnx"),
                                   format = "onnx", verbose = FALSE),
                 class = "kerasexport_error"),
    message = function(m) {
      printed <<- c(printed, conditionMessage(m))
      invokeRestart("muffleMessage")
    },
    warning = function(w) {
      printed <<- c(printed, conditionMessage(w))
      invokeRestart("muffleWarning")
    }
  )
  expect_equal(printed, character())
  message <- conditionMessage(error)
  expect_lt(nchar(message), 1500)
  python_home <- dirname(dirname(reticulate::py_config()$python))
  expect_no_match(message, python_home, fixed = TRUE)
  expect_no_match(message, reticulate::py_eval("__import__('sys').prefix"), fixed = TRUE)
  expect_equal(folder_contents(dir), character())
})

test_that("precision is float32 unless asked, and asking a float32-only runtime is an error", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  dir <- withr::local_tempdir()
  model <- small_model()
  xml <- file.path(dir, "m.xml")
  suppressMessages(export_savedmodel(model, xml, format = "openvino", verbose = FALSE))
  x <- as.matrix(iris[1:5, 1:4])
  want <- reticulate::py_to_r(keras()$ops$convert_to_numpy(model(x)))
  exact <- load_savedmodel(xml)
  expect_equal(exact$precision, "float32")
  expect_equal(predict(exact, x), want, tolerance = 1e-6, ignore_attr = TRUE)
  reduced <- load_savedmodel(xml, precision = "bfloat16")
  expect_true(reduced$precision %in% c("bfloat16", "float32"))
  expect_equal(predict(reduced, x), want, tolerance = 0.05, ignore_attr = TRUE)
  expect_output(print(reduced), "computes in")
  onnx <- file.path(dir, "m.onnx")
  suppressMessages(export_savedmodel(model, onnx, format = "onnx", verbose = FALSE))
  expect_error(load_savedmodel(onnx, precision = "bfloat16"),
               class = "kerasexport_error_unsupported_combination")
  expect_error(load_savedmodel(onnx, precision = "half"), class = "kerasexport_error_argument")
})
