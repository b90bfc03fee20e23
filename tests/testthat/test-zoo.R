# The model zoo (helper-zoo.R) x every format, on the backend under test:
# each model built through keras3's R API, exported with verify = TRUE
# (checked in a fresh Python process before it is placed), loaded and
# predicted from R at two batch sizes (and two sequence lengths where the
# model takes any), and compared with keras3's predict(). A cell that
# cannot work is a classed error that names the layer and the formats that
# can, and leaves the folder empty. With KERASEXPORT_ZOO_REPORT set, each
# cell's outcome is appended to that file (the README's table).

zoo_close <- function(got, want, label) {
  got <- as.array(got)
  want <- as.array(want)
  expect_equal(dim(got), dim(want), label = paste(label, "shape"))
  if (is.character(want)) {
    expect_identical(as.vector(got), as.vector(want), label = label)
    return(invisible())
  }
  scale <- max(1, abs(want[is.finite(want)]))
  diff <- max(abs(got - want), 0, na.rm = TRUE)
  expect_lte(diff, 1e-5 * scale, label = paste(label, "max abs diff"))
}

zoo_report <- function(model, format, outcome, seconds) {
  file <- Sys.getenv("KERASEXPORT_ZOO_REPORT")
  if (!nzchar(file)) return(invisible())
  cat(sprintf("%s\t%s\t%s\t%s\t%.1f\n", test_backend(), model, format, outcome, seconds),
      file = file, append = TRUE)
}

zoo_cell <- function(name, entry, model, format, dir) {
  folder <- file.path(dir, name, format)
  path <- file.path(folder, zoo_files[[format]])
  expected <- zoo_expected(name, format, test_backend())
  label <- sprintf("%s / %s / %s", test_backend(), name, format)
  started <- Sys.time()
  if (expected != "works") {
    error <- expect_error(
      suppressWarnings(suppressMessages(export_savedmodel(model, path, format = format,
                                                          verbose = FALSE, verify = TRUE))),
      class = paste0("kerasexport_error_", expected), label = label)
    expect_gt(length(error$alternatives %||% error$backends), 0, label = paste(label, "alternatives"))
    expect_match(conditionMessage(error), "'|\"", label = paste(label, "names what"))
    expect_false(file.exists(path), label = paste(label, "nothing placed"))
    expect_equal(folder_contents(folder), character(), label = paste(label, "no leftovers"))
    zoo_report(name, format, paste("refused:", expected), as.numeric(Sys.time() - started, units = "secs"))
    return(invisible())
  }
  outcome <- tryCatch({
    suppressMessages(export_savedmodel(model, path, format = format, verbose = FALSE, verify = TRUE))
    artifact <- suppressMessages(load_savedmodel(path))
    via <- artifact$info$kerasexport$exported_on_backend
    for (size in list(c(1, 3), c(4, 6))) {
      x <- entry$data(size[[1]], size[[2]])
      want <- if (is.null(entry$reference)) stats::predict(model, x, verbose = 0) else
        entry$reference(model, x)
      got <- predict(artifact, x)
      if (is.list(want)) {
        for (output in names(want)) zoo_close(got[[output]], want[[output]], paste(label, output))
      } else {
        zoo_close(got, want, paste(label, "n =", size[[1]]))
      }
    }
    if (is.null(via)) "works" else paste("works via", via)
  }, error = function(e) {
    expect_true(FALSE, label = paste(label, "works:", conditionMessage(e)))
    paste("FAILED:", class(e)[[1]])
  })
  zoo_report(name, format, outcome, as.numeric(Sys.time() - started, units = "secs"))
}

for (name in names(zoo_models)) {
  test_that(paste("zoo:", name, "in every format"), {
    skip_if_no_keras3()
    skip_if_no_python()
    skip_in_second_load_order()
    entry <- zoo_models[[name]]
    model <- tryCatch(entry$build(), error = function(e) {
      # Keras' other backends have no text tensors; where they cannot even
      # build the model, there is nothing to export.
      if (!isTRUE(entry$only_tensorflow)) stop(e)
      skip(paste("the model cannot be built on this backend:", conditionMessage(e)))
    })
    dir <- withr::local_tempdir()
    for (format in names(zoo_files)) zoo_cell(name, entry, model, format, dir)
  })
}
