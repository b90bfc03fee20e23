# keras3 as the peer, for one backend (KERAS_BACKEND), in one R process with
# keras3 and kerasexport loaded as a user has them:
# * export time: keras3's own export_savedmodel() method (which kerasexport's
#   replaces on the generic, so it is called by its name) vs kerasexport's
#   export_savedmodel() with the defaults, on the same model, taking turns;
#   median of RUNS runs (4 x RUNS for the small model) after a warm-up;
# * what each can do at all: a few things users write (R-style arguments, a
#   folder that does not exist yet, named inputs, an adapted Normalization
#   layer), per format; a cell "works" when the export succeeds and the
#   artifact, run by its runtime, gives the model's answers within 1e-5.
# Usage: Rscript bench/keras3.R <out.csv> [runs] [models]
bench_dir <- normalizePath(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))))
source(file.path(bench_dir, "common.R"))
model_names <- if (length(args) >= 3) strsplit(args[[3]], ",")[[1]] else c("small_mlp", "large_mlp")

suppressPackageStartupMessages({
  library(keras3)
  library(kerasexport)
})
keras3_method <- getFromNamespace("export_savedmodel.keras.src.models.model.Model", "keras3")
models <- reticulate::import_from_path("models", path = bench_dir)
backend <- reticulate::import("keras")$backend$backend()
work <- tempfile("kerasexport-bench-keras3-")
dir.create(work)
on.exit(unlink(work, recursive = TRUE), add = TRUE)
remove_artifact <- function(path) unlink(c(path, paste0(path, ".data")), recursive = TRUE)
quietly <- function(expr) suppressWarnings(suppressMessages(utils::capture.output(expr)))

rows <- list()
add <- function(benchmark, format, model, baseline_value, value, target, baseline = "keras3's own method") {
  rows[[length(rows) + 1]] <<- data.frame(
    benchmark = benchmark, backend = backend, format = format, model = model,
    baseline = baseline, baseline_value = signif(baseline_value, 4), value = signif(value, 4),
    ratio = round(value / baseline_value, 3), target = target,
    met = if (is.na(target)) NA else value / baseline_value <= target
  )
}

# Export time, where keras3's method works at all.
for (model_name in model_names) {
  model <- models$BUILDERS[[model_name]]()
  models$call_once(model)
  formats <- models$formats_for_backend(backend)
  if (model_name == "large_mlp" && backend == "tensorflow") formats <- "tf_saved_model"
  for (format in formats) {
    theirs <- models$artifact_path(work, format, "keras3")
    ours <- models$artifact_path(work, format, "kerasexport")
    times <- take_turns(
      times = if (model_name == "large_mlp") runs else 4 * runs,
      keras3 = function() {
        remove_artifact(theirs)
        seconds(quietly(keras3_method(model, theirs, format = format, verbose = FALSE)))
      },
      kerasexport = function() {
        remove_artifact(ours)
        seconds(quietly(export_savedmodel(model, ours, format = format, verbose = FALSE)))
      }
    )
    add("export time from R, s (defaults)", format, model_name, times[["keras3"]],
        times[["kerasexport"]], 1.00)
  }
}

# What each can do at all.
np <- reticulate::import("numpy", convert = FALSE)
x4 <- reticulate::np_array(matrix(rnorm(40), 10, 4), dtype = "float32")
runs_like_model <- function(path, format, model, inputs) {
  want <- lapply(reticulate::py_to_r(reticulate::import("keras")$tree$flatten(model(inputs))),
                 function(t) as.array(reticulate::import("keras")$ops$convert_to_numpy(t)))
  got <- tryCatch({
    artifact <- load_savedmodel(path)
    out <- predict(artifact, if (is.list(inputs)) lapply(inputs, reticulate::py_to_r) else reticulate::py_to_r(inputs))
    if (is.list(out)) unname(out) else list(out)
  }, error = function(e) NULL)
  !is.null(got) && length(got) == length(want) &&
    all(mapply(function(a, b) isTRUE(all.equal(as.vector(a), as.vector(b), tolerance = 1e-5)), got, want))
}
cases <- list(
  "defaults" = list(model = function() models$small_mlp(), inputs = x4, args = list()),
  "R-style input_signature c(NA, 4)" = list(model = function() models$small_mlp(), inputs = x4,
                                              args = list(input_signature = c(NA, 4))),
  "into a folder that does not exist yet" = list(model = function() models$small_mlp(), inputs = x4,
                                                 args = list(), nested = TRUE),
  "adapted Normalization layer" = list(
    model = function() {
      k <- reticulate::import("keras")
      normalize <- k$layers$Normalization()
      normalize$adapt(as.matrix(iris[, 1:4]))
      k$Sequential(list(k$Input(shape = list(4L)), normalize, k$layers$Dense(3L)))
    }, inputs = x4, args = list()),
  "named inputs (a dict)" = list(
    model = function() {
      k <- reticulate::import("keras")
      a <- k$Input(shape = list(2L), name = "sepal")
      b <- k$Input(shape = list(2L), name = "petal")
      k$Model(inputs = list(sepal = a, petal = b),
              outputs = k$layers$Dense(3L)(k$layers$Concatenate()(list(a, b))))
    },
    inputs = list(sepal = reticulate::np_array(matrix(rnorm(20), 10, 2), dtype = "float32"),
                  petal = reticulate::np_array(matrix(rnorm(20), 10, 2), dtype = "float32")),
    args = list())
)
can <- c(keras3 = 0, kerasexport = 0, only_kerasexport = 0, only_keras3 = 0, cells = 0)
cells <- list()
for (case_name in names(cases)) {
  case <- cases[[case_name]]
  for (format in c("tf_saved_model", "onnx")) {
    works <- c(keras3 = FALSE, kerasexport = FALSE)
    for (who in names(works)) {
      model <- case$model()
      model(case$inputs)
      base <- file.path(work, paste0("cap-", who), if (isTRUE(case$nested)) "new/folder" else "")
      if (!isTRUE(case$nested)) dir.create(base, recursive = TRUE, showWarnings = FALSE)
      path <- file.path(base, if (format == "onnx") "m.onnx" else "m")
      exporter <- if (who == "keras3") keras3_method else export_savedmodel
      exported <- tryCatch({
        quietly(do.call(exporter, c(list(model, path, format = format, verbose = FALSE), case$args)))
        TRUE
      }, error = function(e) FALSE)
      works[[who]] <- exported && runs_like_model(path, format, model, case$inputs)
      unlink(file.path(work, paste0("cap-", who)), recursive = TRUE)
    }
    can <- can + c(works[["keras3"]], works[["kerasexport"]],
                   works[["kerasexport"]] && !works[["keras3"]],
                   works[["keras3"]] && !works[["kerasexport"]], 1)
    cells[[length(cells) + 1]] <- sprintf("%s / %s: keras3 %s, kerasexport %s", case_name, format,
                                          if (works[["keras3"]]) "works" else "fails",
                                          if (works[["kerasexport"]]) "works" else "fails")
  }
}
writeLines(unlist(cells), sub("\\.csv$", "-cells.txt", out))
add(sprintf("cells that work (of %d: %d cases x 2 formats)", can[["cells"]], can[["cells"]] / 2),
    "both", "see bench/results", can[["keras3"]], can[["kerasexport"]], NA,
    baseline = "keras3's own method")
add("cells only kerasexport can do", "both", "see bench/results", can[["cells"]],
    can[["only_kerasexport"]], NA, baseline = "cells")
add("cells only keras3 can do", "both", "see bench/results", can[["cells"]],
    can[["only_keras3"]], NA, baseline = "cells")
write.csv(do.call(rbind, rows), out, row.names = FALSE)
