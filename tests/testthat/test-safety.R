# What export_savedmodel() promises about the file system, proved with real
# files and real processes.

test_that("a failure inside Keras after staging leaves the earlier artifact byte for byte", {
  skip_if_no_python()
  dir <- withr::local_tempdir()
  format <- backend_formats()[[1]]
  path <- artifact_path(dir, format)
  model <- small_model()
  suppressMessages(export_savedmodel(model, path, format = format, verbose = FALSE))
  before <- snapshot_path(path)
  contents <- folder_contents(dir)
  # A Python InputSpec passes kerasexport's checks and fails inside Keras.
  bad <- list(keras()$InputSpec(shape = list(NULL, 5L), dtype = "float32"))
  expect_error(
    suppressWarnings(suppressMessages(export_savedmodel(
      model, path, format = format, input_signature = bad, overwrite = TRUE))),
    class = "kerasexport_error"
  )
  expect_identical(snapshot_path(path), before)
  expect_equal(folder_contents(dir), contents) # no staging folder left
})

test_that("killing the exporting process never touches the earlier artifact", {
  skip_if_no_python()
  skip_unless_backend("tensorflow")
  dir <- withr::local_tempdir()
  path <- file.path(dir, "model")
  suppressMessages(export_savedmodel(small_model(), path, verbose = FALSE))
  before <- snapshot_path(path)
  exporter <- callr::r_bg(function(path) {
    keras <- reticulate::import("keras")
    big <- keras$Sequential(list(keras$Input(shape = list(2000L)),
                                 keras$layers$Dense(4000L), keras$layers$Dense(4000L),
                                 keras$layers$Dense(10L)))
    writeLines("built", file.path(dirname(path), "signal"))
    for (i in 1:20) kerasexport::export_savedmodel(big, path, overwrite = TRUE, verbose = FALSE)
  }, args = list(path = path), env = c(callr::rcmd_safe_env(), KERAS_BACKEND = "tensorflow"))
  staging <- function() list.files(dir, pattern = "^\\.model\\.kerasexport-", all.files = TRUE)
  deadline <- Sys.time() + 120
  while (length(staging()) == 0 && exporter$is_alive() && Sys.time() < deadline) Sys.sleep(0.05)
  expect_true(length(staging()) > 0)
  exporter$kill() # SIGKILL: no clean-up can run
  exporter$wait()
  expect_identical(snapshot_path(path), before)
  expect_true(length(staging()) > 0) # the remains of the killed export...
  suppressMessages(export_savedmodel(small_model(), path, overwrite = TRUE, verbose = FALSE))
  expect_length(staging(), 0) # ...are removed by the next export to that path
})

test_that("an existing file that is not an artifact is never replaced", {
  skip_if_no_python()
  dir <- withr::local_tempdir()
  data_file <- file.path(dir, "data.onnx")
  writeLines("not a model", data_file)
  expect_error(export_savedmodel(small_model(), data_file, format = "onnx", overwrite = TRUE),
               regexp = "not an artifact of format 'onnx'", class = "kerasexport_error_artifact")
  expect_equal(readLines(data_file), "not a model")
  expect_equal(folder_contents(dir), "data.onnx")
})

test_that("missing folders are created, and removed again when the export fails", {
  skip_if_no_python()
  dir <- withr::local_tempdir()
  format <- backend_formats()[[1]]
  nested <- file.path(dir, "path", "to", if (format == "onnx") "location.onnx" else "location")
  suppressMessages(export_savedmodel(small_model(), nested, format = format, verbose = FALSE))
  expect_true(file.exists(nested))
  expect_true(suppressMessages(verify_artifact(nested, small_model()))$passed)

  # A failure after the folders were made leaves nothing behind...
  failing <- file.path(dir, "new", "folders", "m.onnx")
  expect_error(export_savedmodel(small_model(), failing, format = "onnx", opset_version = "x"),
               class = "kerasexport_error")
  expect_false(dir.exists(file.path(dir, "new")))
  # ...and a file in the way is named.
  writeLines("data", file.path(dir, "a-file"))
  expect_error(export_savedmodel(small_model(), file.path(dir, "a-file", "m.onnx"), format = "onnx"),
               regexp = "is a file", class = "kerasexport_error_artifact")
  expect_equal(readLines(file.path(dir, "a-file")), "data")
  expect_setequal(list.files(dir), c("path", "a-file"))
})

test_that("an unwritable folder is a classed error and stays empty", {
  skip_if_no_python()
  skip_if(Sys.info()[["effective_user"]] == "root" || .Platform$OS.type != "unix",
          "root can write to any folder")
  dir <- withr::local_tempdir()
  locked <- file.path(dir, "locked")
  dir.create(locked)
  Sys.chmod(locked, "0555")
  withr::defer(Sys.chmod(locked, "0755"))
  expect_error(suppressMessages(export_savedmodel(small_model(), file.path(locked, "m.onnx"), format = "onnx")),
               class = "kerasexport_error")
  expect_equal(folder_contents(locked), character())
})

test_that("paths with ~, spaces and non-ASCII characters work", {
  skip_if_no_python()
  home <- withr::local_tempdir()
  withr::local_envvar(HOME = home)
  dir.create(file.path(home, "my models"))
  path <- "~/my models/modèle ü.onnx"
  model <- small_model()
  suppressMessages(export_savedmodel(model, path, format = "onnx", verbose = FALSE))
  expect_true(file.exists(file.path(home, "my models", "modèle ü.onnx")))
  info <- suppressMessages(artifact_info(path))
  expect_equal(info$path, normalizePath(file.path(home, "my models", "modèle ü.onnx")))
  expect_true(suppressMessages(verify_artifact(path, model))$passed)
})

test_that("verify = TRUE checks the artifact right after writing it", {
  skip_if_no_python()
  path <- file.path(withr::local_tempdir(), "verified.onnx")
  expect_silent(suppressMessages(export_savedmodel(small_model(), path, format = "onnx",
                                                   verbose = FALSE, verify = TRUE)))
})

test_that("torch + ONNX + verbose = TRUE leaves no local paths in the artifact", {
  skip_if_no_python()
  skip_unless_backend("torch")
  dir <- withr::local_tempdir()
  model <- small_model()
  locals <- c(normalizePath("~"), dirname(dirname(reticulate::py_config()$python)), getwd())
  contains_local <- function(file) {
    bytes <- readBin(file, "raw", file.size(file))
    any(vapply(locals, function(l) length(grepRaw(l, bytes, fixed = TRUE)) > 0, TRUE))
  }
  raw_path <- file.path(dir, "raw.onnx")
  suppressMessages(export_savedmodel(model, raw_path, format = "onnx", verbose = TRUE, scrub = FALSE))
  expect_true(contains_local(raw_path)) # what Keras' exporter leaves...
  clean_path <- file.path(dir, "clean.onnx")
  suppressMessages(export_savedmodel(model, clean_path, format = "onnx", verbose = TRUE))
  expect_false(contains_local(clean_path)) # ...and what kerasexport keeps out
  info <- suppressMessages(artifact_info(clean_path))
  expect_gt(length(info$kerasexport$local_information_removed), 0)
  expect_output(print(info), "local information removed")
  expect_true(suppressMessages(verify_artifact(clean_path, model))$passed)
})
