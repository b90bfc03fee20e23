# Every bad input a user can give an exported function gets its classed
# error, with a message that names the argument and says what to do (no
# Python frames, no ANSI codes, no unrendered cli markup), and leaves the
# user's files as they were: a folder of plain files, a SavedModel, ONNX
# files and a folder of versions, checked byte for byte, with nothing added.

user_folder <- function(model, envir = parent.frame()) {
  dir <- withr::local_tempdir(.local_envir = envir)
  writeLines("notes", file.path(dir, "notes.txt"))
  writeLines("a,b", file.path(dir, "table.onnx"))
  saveRDS(iris, file.path(dir, "data.rds"))
  dir.create(file.path(dir, "empty"))
  suppressMessages({
    export_savedmodel(model, file.path(dir, "model.onnx"), format = "onnx", verbose = FALSE)
    export_savedmodel(model, file.path(dir, "served"), format = "onnx", version = 1, verbose = FALSE)
    if ("tf_saved_model" %in% backend_formats()) {
      export_savedmodel(model, file.path(dir, "savedmodel"), verbose = FALSE)
    } else {
      # A SavedModel of another backend's making stands in: its bytes are
      # what is checked.
      dir.create(file.path(dir, "savedmodel", "variables"), recursive = TRUE)
      writeBin(as.raw(1:200), file.path(dir, "savedmodel", "saved_model.pb"))
    }
  })
  # A folder of versions whose version 1 is a SavedModel.
  dir.create(file.path(dir, "mixed"))
  file.copy(file.path(dir, "savedmodel"), file.path(dir, "mixed"), recursive = TRUE)
  file.rename(file.path(dir, "mixed", "savedmodel"), file.path(dir, "mixed", "1"))
  dir
}

fingerprint <- function(dir) {
  files <- list.files(dir, recursive = TRUE, all.files = TRUE, include.dirs = TRUE, no.. = TRUE)
  full <- file.path(dir, files)
  folders <- dir.exists(full)
  sums <- rep("<folder>", length(files))
  sums[!folders] <- unname(tools::md5sum(full[!folders]))
  stats::setNames(sums, files)
}

expect_clean_message <- function(error, label) {
  text <- conditionMessage(error)
  expect_false(grepl("Traceback|File \"|\\033\\[|\\{\\.[a-z]+ ", text), label = paste(label, ":", text))
}

# label, expected class, a function of the user's folder and the model.
bad_inputs <- function() {
  x <- as.matrix(iris[1:5, 1:4])
  list(
    # export_savedmodel(): the path
    list("path is a number", "argument", function(d, m) export_savedmodel(m, 42)),
    list("path is NA", "argument", function(d, m) export_savedmodel(m, NA_character_)),
    list("path is two strings", "argument", function(d, m) export_savedmodel(m, c("a", "b"))),
    list("path is empty", "argument", function(d, m) export_savedmodel(m, "")),
    list("path is NULL", "argument", function(d, m) export_savedmodel(m, NULL)),
    list("existing onnx without overwrite", "artifact",
         function(d, m) export_savedmodel(m, file.path(d, "model.onnx"), format = "onnx")),
    list("a plain file as onnx, overwrite", "argument",
         function(d, m) export_savedmodel(m, file.path(d, "notes.txt"), format = "onnx", overwrite = TRUE)),
    list("a data file named .onnx, overwrite", "artifact",
         function(d, m) export_savedmodel(m, file.path(d, "table.onnx"), format = "onnx", overwrite = TRUE)),
    list("a wrong ending for openvino", "argument",
         function(d, m) export_savedmodel(m, file.path(d, "m_openvino"), format = "openvino")),
    list("a wrong ending for litert", "argument",
         function(d, m) export_savedmodel(m, file.path(d, "m.lite"), format = "litert")),
    list("a wrong ending for torch", "argument",
         function(d, m) export_savedmodel(m, file.path(d, "m.pt"), format = "torch")),
    list("a data file as a SavedModel, overwrite", "artifact",
         function(d, m) export_savedmodel(m, file.path(d, "data.rds"), overwrite = TRUE)),
    list("an empty folder as a SavedModel, overwrite", "artifact",
         function(d, m) export_savedmodel(m, file.path(d, "empty"), overwrite = TRUE)),
    list("onnx over a SavedModel folder, overwrite", "argument",
         function(d, m) export_savedmodel(m, file.path(d, "savedmodel"), format = "onnx", overwrite = TRUE)),
    list("existing SavedModel without overwrite", "artifact",
         function(d, m) export_savedmodel(m, file.path(d, "savedmodel"))),
    list("a file as a parent folder", "artifact",
         function(d, m) export_savedmodel(m, file.path(d, "notes.txt", "m.onnx"), format = "onnx")),
    list("an existing version without overwrite", "artifact",
         function(d, m) export_savedmodel(m, file.path(d, "served"), format = "onnx", version = 1)),
    list("onnx into a version that is a SavedModel, overwrite", "artifact",
         function(d, m) export_savedmodel(m, file.path(d, "mixed"), format = "onnx", version = 1,
                                          overwrite = TRUE)),
    list("a SavedModel over an ONNX version, overwrite", "artifact",
         function(d, m) export_savedmodel(m, file.path(d, "served"), version = 1, overwrite = TRUE)),
    list("versions into a plain file", "artifact",
         function(d, m) export_savedmodel(m, file.path(d, "notes.txt"), format = "onnx", version = "auto")),
    # export_savedmodel(): the other arguments
    list("object is a list", "invalid_model", function(d, m) export_savedmodel(list(), file.path(d, "x"))),
    list("object is a number", "invalid_model", function(d, m) export_savedmodel(42, file.path(d, "x"))),
    list("object is a data frame", "invalid_model", function(d, m) export_savedmodel(iris, file.path(d, "x"))),
    list("object is a Python module", "invalid_model",
         function(d, m) export_savedmodel(reticulate::import("os"), file.path(d, "x"))),
    list("an unbuilt model", "invalid_model",
         function(d, m) export_savedmodel(keras()$Sequential(list(keras()$layers$Dense(2L))),
                                          file.path(d, "x.onnx"), format = "onnx")),
    list("format is a number", "argument", function(d, m) export_savedmodel(m, file.path(d, "x"), format = 1)),
    list("format is unknown", "unsupported_format",
         function(d, m) export_savedmodel(m, file.path(d, "x"), format = "pickle")),
    list("format is NA", "argument", function(d, m) export_savedmodel(m, file.path(d, "x"), format = NA_character_)),
    list("verbose is a string", "argument", function(d, m) export_savedmodel(m, file.path(d, "x"), verbose = "yes")),
    list("verbose is NA", "argument", function(d, m) export_savedmodel(m, file.path(d, "x"), verbose = NA)),
    list("overwrite is 1", "argument", function(d, m) export_savedmodel(m, file.path(d, "x"), overwrite = 1)),
    list("verify is NULL", "argument", function(d, m) export_savedmodel(m, file.path(d, "x"), verify = NULL)),
    list("model_names is two values", "argument",
         function(d, m) export_savedmodel(m, file.path(d, "x"), model_names = c(TRUE, FALSE))),
    list("scrub is a string", "argument", function(d, m) export_savedmodel(m, file.path(d, "x"), scrub = "no")),
    list("external_data is 1", "argument",
         function(d, m) export_savedmodel(m, file.path(d, "x.onnx"), format = "onnx", external_data = 1)),
    list("external_data for a SavedModel", "unknown_argument",
         function(d, m) export_savedmodel(m, file.path(d, "x"), external_data = TRUE)),
    list("version 0", "argument", function(d, m) export_savedmodel(m, file.path(d, "v"), version = 0)),
    list("version 1.5", "argument", function(d, m) export_savedmodel(m, file.path(d, "v"), version = 1.5)),
    list("version 'latest'", "argument", function(d, m) export_savedmodel(m, file.path(d, "v"), version = "latest")),
    list("version -1", "argument", function(d, m) export_savedmodel(m, file.path(d, "v"), version = -1)),
    list("version 1e20", "argument", function(d, m) export_savedmodel(m, file.path(d, "v"), version = 1e20)),
    list("an unnamed argument in ...", "argument", function(d, m) export_savedmodel(m, file.path(d, "x"), 17)),
    list("a repeated argument in ...", "argument",
         function(d, m) export_savedmodel(m, file.path(d, "x.onnx"), format = "onnx",
                                          opset_version = 17, opset_version = 18)),
    list("an argument the format does not take", "unknown_argument",
         function(d, m) export_savedmodel(m, file.path(d, "x.onnx"), format = "onnx", not_an_option = TRUE)),
    list("a function in ...", "argument",
         function(d, m) export_savedmodel(m, file.path(d, "x.onnx"), format = "onnx", opset_version = mean)),
    list("a partly named list in ...", "argument",
         function(d, m) export_savedmodel(m, file.path(d, "x.onnx"), format = "onnx",
                                          opset_version = list(a = 1, 2))),
    list("a bad opset_version value", "export_failed",
         function(d, m) export_savedmodel(m, file.path(d, "x.onnx"), format = "onnx", opset_version = "x")),
    # input_signature
    list("signature c(NA, Inf)", "input_signature",
         function(d, m) export_savedmodel(m, file.path(d, "x"), input_signature = c(NA, Inf))),
    list("signature c(NA, 0)", "input_signature",
         function(d, m) export_savedmodel(m, file.path(d, "x"), input_signature = c(NA, 0))),
    list("signature c(NA, 2.5)", "input_signature",
         function(d, m) export_savedmodel(m, file.path(d, "x"), input_signature = c(NA, 2.5))),
    list("signature c(NA, -4)", "input_signature",
         function(d, m) export_savedmodel(m, file.path(d, "x"), input_signature = c(NA, -4))),
    list("signature of the wrong rank", "input_signature",
         function(d, m) export_savedmodel(m, file.path(d, "x"), input_signature = c(NA, 4, 1))),
    list("signature for two inputs", "input_signature",
         function(d, m) export_savedmodel(m, file.path(d, "x"), input_signature = list(c(NA, 4), c(NA, 4)))),
    list("signature naming an unknown input", "input_signature",
         function(d, m) export_savedmodel(m, file.path(d, "x"), input_signature = list(nope = c(NA, 4)))),
    list("signature partly named", "input_signature",
         function(d, m) export_savedmodel(m, file.path(d, "x"), input_signature = list(a = c(NA, 4), c(NA, 4)))),
    list("signature is a string", "input_signature",
         function(d, m) export_savedmodel(m, file.path(d, "x"), input_signature = "c(NA, 4)")),
    list("signature is a function", "input_signature",
         function(d, m) export_savedmodel(m, file.path(d, "x"), input_signature = mean)),
    list("signature element is a string", "input_signature",
         function(d, m) export_savedmodel(m, file.path(d, "x"), input_signature = list("a"))),
    list("signature with an unknown dtype", "input_signature",
         function(d, m) export_savedmodel(m, file.path(d, "x"), input_signature = input_spec(c(NA, 4), dtype = "float99"))),
    list("a string dtype for a numeric model", "input_signature",
         function(d, m) export_savedmodel(m, file.path(d, "x.onnx"), format = "onnx",
                                          input_signature = input_spec(c(NA, 4), dtype = "string"))),
    # input_spec()
    list("input_spec shape is a string", "input_signature", function(d, m) input_spec("4")),
    list("input_spec shape is empty", "input_signature", function(d, m) input_spec(numeric())),
    list("input_spec shape has 0", "input_signature", function(d, m) input_spec(c(NA, 0))),
    list("input_spec shape has Inf", "input_signature", function(d, m) input_spec(c(NA, Inf))),
    list("input_spec shape is TRUE", "input_signature", function(d, m) input_spec(TRUE)),
    list("input_spec dtype is a number", "argument", function(d, m) input_spec(c(NA, 4), dtype = 32)),
    list("input_spec name is two strings", "argument", function(d, m) input_spec(c(NA, 4), name = c("a", "b"))),
    # verify_artifact()
    list("verify: no such path", "artifact", function(d, m) verify_artifact(file.path(d, "nope.onnx"), m)),
    list("verify: a plain file", "artifact", function(d, m) verify_artifact(file.path(d, "notes.txt"), m)),
    list("verify: an empty folder", "artifact", function(d, m) verify_artifact(file.path(d, "empty"), m)),
    list("verify: onnx format on a SavedModel folder", "artifact",
         function(d, m) verify_artifact(file.path(d, "savedmodel"), m, format = "onnx")),
    list("verify: SavedModel format on an ONNX file", "artifact",
         function(d, m) verify_artifact(file.path(d, "model.onnx"), m, format = "tf_saved_model")),
    list("verify: model is a list", "invalid_model", function(d, m) verify_artifact(file.path(d, "model.onnx"), list())),
    list("verify: data of the wrong rank", "predict_input",
         function(d, m) verify_artifact(file.path(d, "model.onnx"), m, data = array(1, c(2, 4, 1)))),
    list("verify: data of the wrong width", "predict_input",
         function(d, m) verify_artifact(file.path(d, "model.onnx"), m, data = matrix(1, 3, 5))),
    list("verify: data as characters", "predict_input",
         function(d, m) verify_artifact(file.path(d, "model.onnx"), m, data = matrix("a", 3, 4))),
    list("verify: data with integer NA", "predict_input",
         function(d, m) verify_artifact(file.path(d, "model.onnx"), m, data = matrix(c(1L, NA), 3, 4))),
    list("verify: two inputs for one", "predict_input",
         function(d, m) verify_artifact(file.path(d, "model.onnx"), m, data = list(x, x))),
    list("verify: tolerance negative", "argument",
         function(d, m) verify_artifact(file.path(d, "model.onnx"), m, tolerance = -1)),
    list("verify: tolerance a string", "argument",
         function(d, m) verify_artifact(file.path(d, "model.onnx"), m, tolerance = "1e-5")),
    list("verify: empty data list", "predict_input",
         function(d, m) verify_artifact(file.path(d, "model.onnx"), m, data = list())),
    # artifact_info()
    list("info: no such path", "artifact", function(d, m) artifact_info(file.path(d, "nope"))),
    list("info: a plain file", "artifact", function(d, m) artifact_info(file.path(d, "notes.txt"))),
    list("info: an empty folder", "artifact", function(d, m) artifact_info(file.path(d, "empty"))),
    list("info: onnx format on a folder", "artifact",
         function(d, m) artifact_info(file.path(d, "savedmodel"), format = "onnx")),
    list("info: SavedModel format on a file", "artifact",
         function(d, m) artifact_info(file.path(d, "model.onnx"), format = "tf_saved_model")),
    list("info: path is a number", "argument", function(d, m) artifact_info(1)),
    list("info: format is TRUE", "argument", function(d, m) artifact_info(file.path(d, "model.onnx"), format = TRUE)),
    # load_savedmodel()
    list("load: no such path", "artifact", function(d, m) load_savedmodel(file.path(d, "nope"))),
    list("load: a plain file", "artifact", function(d, m) load_savedmodel(file.path(d, "notes.txt"))),
    list("load: an empty folder", "artifact", function(d, m) load_savedmodel(file.path(d, "empty"))),
    list("load: onnx format on a folder", "artifact",
         function(d, m) load_savedmodel(file.path(d, "savedmodel"), format = "onnx")),
    list("load: path is a list", "argument", function(d, m) load_savedmodel(list("a"))),
    # predict() on a loaded artifact
    list("predict: characters", "predict_input",
         function(d, m) predict(load_savedmodel(file.path(d, "model.onnx")), matrix("a", 2, 4))),
    list("predict: a factor data frame", "predict_input",
         function(d, m) predict(load_savedmodel(file.path(d, "model.onnx")), iris[1:3, ])),
    list("predict: the wrong width", "predict_input",
         function(d, m) predict(load_savedmodel(file.path(d, "model.onnx")), matrix(1, 2, 3))),
    list("predict: the wrong rank", "predict_input",
         function(d, m) predict(load_savedmodel(file.path(d, "model.onnx")), array(1, c(2, 4, 2)))),
    list("predict: no rows", "predict_input",
         function(d, m) predict(load_savedmodel(file.path(d, "model.onnx")), matrix(1, 0, 4))),
    list("predict: batch_size 0", "argument",
         function(d, m) predict(load_savedmodel(file.path(d, "model.onnx")), x, batch_size = 0)),
    list("predict: batch_size 2.5", "argument",
         function(d, m) predict(load_savedmodel(file.path(d, "model.onnx")), x, batch_size = 2.5)),
    list("predict: batch_size Inf", "argument",
         function(d, m) predict(load_savedmodel(file.path(d, "model.onnx")), x, batch_size = Inf)),
    list("predict: an unknown signature", "predict_input",
         function(d, m) predict(load_savedmodel(file.path(d, "model.onnx")), x, signature_name = "nope")),
    list("predict: signature_name a number", "argument",
         function(d, m) predict(load_savedmodel(file.path(d, "model.onnx")), x, signature_name = 1)),
    list("predict: an unknown input name", "predict_input",
         function(d, m) predict(load_savedmodel(file.path(d, "model.onnx")), list(nope = x))),
    list("predict: a list element that is text", "predict_input",
         function(d, m) predict(load_savedmodel(file.path(d, "model.onnx")), list("a"))),
    # predict_savedmodel()
    list("predict_savedmodel: ragged instances", "predict_input",
         function(d, m) predict_savedmodel(list(c(1, 2, 3, 4), c(1, 2)), file.path(d, "model.onnx"))),
    list("predict_savedmodel: ragged named instances", "predict_input",
         function(d, m) predict_savedmodel(list(list(a = 1), list(b = 2)), file.path(d, "model.onnx"))),
    list("predict_savedmodel: instances is a string", "predict_input",
         function(d, m) predict_savedmodel("5.1, 3.5", file.path(d, "model.onnx"))),
    list("predict_savedmodel: an empty list", "predict_input",
         function(d, m) predict_savedmodel(list(), file.path(d, "model.onnx"))),
    list("predict_savedmodel: model is a number", "argument", function(d, m) predict_savedmodel(x, 42)),
    list("predict_savedmodel: no such path", "artifact",
         function(d, m) predict_savedmodel(x, file.path(d, "nope.onnx"))),
    list("predict_savedmodel: a plain file", "artifact",
         function(d, m) predict_savedmodel(x, file.path(d, "notes.txt"))),
    list("predict_savedmodel: nobody listens", "serve",
         function(d, m) predict_savedmodel(x, sprintf("http://127.0.0.1:%d/v1/models/m", free_port()))),
    list("predict_savedmodel: a URL without a model", "argument",
         function(d, m) predict_savedmodel(x, "http://127.0.0.1:1/")),
    list("predict_savedmodel: an unknown type", "argument",
         function(d, m) predict_savedmodel(x, file.path(d, "model.onnx"), type = "cloudml")),
    list("predict_savedmodel: ragged instances to a URL", "predict_input",
         function(d, m) predict_savedmodel(list(c(1, 2), 1), "http://127.0.0.1:1/v1/models/m")),
    # serve_savedmodel(), all refused before a process starts
    list("serve: a plain file", "artifact", function(d, m) serve_savedmodel(file.path(d, "notes.txt"))),
    list("serve: an empty folder", "artifact", function(d, m) serve_savedmodel(file.path(d, "empty"))),
    list("serve: no such path", "artifact", function(d, m) serve_savedmodel(file.path(d, "nope"))),
    list("serve: port 70000", "argument", function(d, m) serve_savedmodel(file.path(d, "model.onnx"), port = 70000)),
    list("serve: port 8501.5", "argument", function(d, m) serve_savedmodel(file.path(d, "model.onnx"), port = 8501.5)),
    list("serve: port 0", "argument", function(d, m) serve_savedmodel(file.path(d, "model.onnx"), port = 0)),
    list("serve: port '80'", "argument", function(d, m) serve_savedmodel(file.path(d, "model.onnx"), port = "80")),
    list("serve: timeout '10'", "argument", function(d, m) serve_savedmodel(file.path(d, "model.onnx"), timeout = "10")),
    list("serve: timeout -1", "argument", function(d, m) serve_savedmodel(file.path(d, "model.onnx"), timeout = -1)),
    list("serve: max_request_bytes 0", "argument",
         function(d, m) serve_savedmodel(file.path(d, "model.onnx"), max_request_bytes = 0)),
    list("serve: host a number", "argument", function(d, m) serve_savedmodel(file.path(d, "model.onnx"), host = 127)),
    list("serve: name a number", "argument", function(d, m) serve_savedmodel(file.path(d, "model.onnx"), name = 1)),
    list("serve: daemonized 'yes'", "argument",
         function(d, m) serve_savedmodel(file.path(d, "model.onnx"), daemonized = "yes")),
    list("serve: daemonized and block disagree", "argument",
         function(d, m) serve_savedmodel(file.path(d, "model.onnx"), daemonized = TRUE, block = TRUE)),
    list("serve: browse NA", "argument", function(d, m) serve_savedmodel(file.path(d, "model.onnx"), browse = NA)),
    list("serve: a port in use", "serve", function(d, m) {
      port <- free_port()
      listener <- serverSocket(port)
      on.exit(close(listener))
      serve_savedmodel(file.path(d, "model.onnx"), port = port)
    }),
    # write_deployment() and the V2 protocol
    list("deploy: target 'docker'", "argument",
         function(d, m) write_deployment(file.path(d, "model.onnx"), file.path(d, "out"), target = "docker")),
    list("deploy: ONNX to TF-Serving", "unsupported_combination",
         function(d, m) write_deployment(file.path(d, "model.onnx"), file.path(d, "out"), target = "tf-serving")),
    list("deploy: into the user's folder, overwrite", "artifact",
         function(d, m) write_deployment(file.path(d, "model.onnx"), file.path(d, "empty"),
                                         target = "triton", overwrite = TRUE)),
    list("deploy: version 0", "argument",
         function(d, m) write_deployment(file.path(d, "model.onnx"), file.path(d, "out"), target = "triton",
                                         version = 0)),
    list("deploy: a plain file", "artifact",
         function(d, m) write_deployment(file.path(d, "notes.txt"), file.path(d, "out"), target = "triton")),
    list("predict_savedmodel: protocol 'grpc'", "argument",
         function(d, m) predict_savedmodel(x, file.path(d, "model.onnx"), protocol = "grpc")),
    list("predict_savedmodel: v2 to a TF-Serving URL", "argument",
         function(d, m) predict_savedmodel(x, "http://127.0.0.1:1/v1/models/m", protocol = "v2")),
    list("install: formats 'tensorrt'", "argument", function(d, m) install_kerasexport(formats = "tensorrt")),
    # install_kerasexport(), all refused before anything is made
    list("install: backend 'theano'", "argument", function(d, m) install_kerasexport(backend = "theano")),
    list("install: backend a number", "argument", function(d, m) install_kerasexport(backend = 1)),
    list("install: gpu 'yes'", "argument", function(d, m) install_kerasexport(gpu = "yes")),
    list("install: envname a number", "argument", function(d, m) install_kerasexport(envname = 1)),
    list("install: new_env NA", "argument", function(d, m) install_kerasexport(new_env = NA)),
    list("install: python_version 3.11", "argument", function(d, m) install_kerasexport(python_version = 3.11)),
    list("install: python a number", "argument", function(d, m) install_kerasexport(python = 3))
  )
}

test_that("at least 100 bad inputs each get their classed error, and the user's files are untouched", {
  skip_if_no_python()
  model <- small_model()
  dir <- user_folder(model)
  withr::local_dir(dir)
  before <- fingerprint(dir)
  cases <- bad_inputs()
  expect_gte(length(cases), 100)
  for (case in cases) {
    label <- case[[1]]
    error <- tryCatch(
      suppressWarnings(suppressMessages(case[[3]](dir, model))),
      error = function(e) e
    )
    expect_s3_class(error, paste0("kerasexport_error_", case[[2]]))
    if (!inherits(error, paste0("kerasexport_error_", case[[2]]))) {
      fail(paste0(label, ": ", class(error)[[1]], ": ", conditionMessage(error)))
      next
    }
    expect_clean_message(error, label)
    expect_identical(fingerprint(dir), before, label = label)
  }
})
