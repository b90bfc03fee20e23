# kerasexport benchmarks: each figure is a ratio against a baseline measured
# in the same run (median of BENCH_RUNS runs, 5 by default, after a warm-up),
# because the machines are noisy. Writes bench/results/latest.csv and
# bench/results/latest.md (only-<sections>.* for a BENCH_ONLY run), and
# prints the table.
# Usage: make bench   (or Rscript bench/run.R; BENCH_BACKENDS, BENCH_RUNS,
# BENCH_MODELS and BENCH_ONLY narrow it down)
bench_dir <- normalizePath(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))))
root <- dirname(bench_dir)
runs <- as.integer(Sys.getenv("BENCH_RUNS", "5"))
backends <- strsplit(Sys.getenv("BENCH_BACKENDS", "tensorflow,jax,torch"), ",")[[1]]
bench_models <- Sys.getenv("BENCH_MODELS", "small_mlp,large_mlp")
# Backends whose 50 M-parameter export is measured.
large_backends <- strsplit(Sys.getenv("BENCH_LARGE_BACKENDS", "tensorflow,jax,torch"), ",")[[1]]
python <- file.path(root, ".venv", "bin", "python")
if (!file.exists(python)) python <- Sys.which("python3")
results_dir <- file.path(bench_dir, "results")
dir.create(results_dir, showWarnings = FALSE)
work <- tempfile("kerasexport-bench-")
dir.create(work)
on.exit(unlink(work, recursive = TRUE), add = TRUE)
formats_for <- function(backend) if (backend == "torch") "onnx" else c("tf_saved_model", "onnx")
artifact <- function(format, tag) file.path(work, if (format == "onnx") paste0(tag, ".onnx") else tag)

# R's LD_LIBRARY_PATH can put another libpython first (see python_library_path()
# in R/serve.R): give Python its own library folder first.
python_libdir <- system2(python, c("-c", shQuote("import sysconfig; print(sysconfig.get_config_var('LIBDIR') or '')")),
                         stdout = TRUE)
library_path <- paste(c(python_libdir, Sys.getenv("LD_LIBRARY_PATH")), collapse = ":")
run_process <- function(command, args, backend) {
  result <- processx::run(command, args, env = c("current", KERAS_BACKEND = backend,
                                                 TF_CPP_MIN_LOG_LEVEL = "2",
                                                 LD_LIBRARY_PATH = library_path),
                          error_on_status = FALSE)
  if (result$status != 0) stop(command, " failed:\n", result$stderr)
  jsonlite::fromJSON(tail(strsplit(trimws(result$stdout), "\n")[[1]], 1))
}

rows <- list()
failed <- character()
# BENCH_ONLY="keras3,verify" runs only the sections whose names start so.
only <- strsplit(Sys.getenv("BENCH_ONLY"), ",")[[1]]
section <- function(label, code) {
  if (length(only) && !any(startsWith(label, only))) return(invisible())
  tryCatch(code, error = function(e) {
    message("FAILED: ", label, ": ", conditionMessage(e))
    failed <<- c(failed, sprintf("%s: %s", label, strsplit(conditionMessage(e), "\n")[[1]][[1]]))
  })
}

# One of the in-process benchmark scripts for one backend, in its own Rscript
# (KERAS_BACKEND is fixed once Keras is imported); its rows are added.
run_script <- function(script, backend, ...) {
  csv <- file.path(work, sprintf("%s-%s.csv", tools::file_path_sans_ext(script), backend))
  status <- system2(file.path(R.home("bin"), "Rscript"),
                    c(shQuote(file.path(bench_dir, script)), shQuote(csv), runs, ...),
                    env = c(paste0("KERAS_BACKEND=", backend), "TF_CPP_MIN_LOG_LEVEL=2"),
                    stdout = FALSE, stderr = FALSE)
  if (status != 0 || !file.exists(csv)) stop("bench/", script, " failed for ", backend)
  rows[[length(rows) + 1]] <<- read.csv(csv)
}

# 1 and 4: wrapper overhead and artifact size, in-process, per backend.
for (backend in backends) section(paste("overhead and size", backend), {
  message("overhead and size: ", backend)
  models_here <- if (backend %in% large_backends) bench_models else sub(",?large_mlp", "", bench_models)
  run_script("overhead.R", backend, models_here)
})

# 2 and 3: cold start (small model) and peak memory (large model), fresh
# processes: kerasexport from R, Python, and the R floor, taking turns.
for (backend in backends) {
  for (format in formats_for(backend)) {
    cases <- list(list(model = "small_mlp", measure = "cold start, s"))
    # Peak memory: the 50 M-parameter export, in one format per backend.
    if (grepl("large_mlp", bench_models) && backend %in% large_backends &&
        format == formats_for(backend)[[1]]) {
      cases[[2]] <- list(model = "large_mlp", measure = "peak memory, MB")
    }
    for (case in cases) section(paste("fresh processes", backend, format, case$model), {
      message("fresh processes: ", backend, " ", format, " ", case$model)
      # Three contenders take turns: kerasexport from R, Python, and the R
      # floor (reticulate calling model.export(), no kerasexport).
      scripts <- list(r = c(file.path(R.home("bin"), "Rscript"), file.path(bench_dir, "cold_start.R")),
                      py = c(python, file.path(bench_dir, "cold_start.py")),
                      floor = c(file.path(R.home("bin"), "Rscript"), file.path(bench_dir, "cold_start_floor.R")))
      values <- list(r = numeric(), py = numeric(), floor = numeric())
      modules <- list()
      for (i in seq_len(runs + 1)) {
        for (who in names(scripts)) {
          unlink(artifact(format, who), recursive = TRUE)
          unlink(paste0(artifact(format, who), ".data"))
          started <- Sys.time()
          report <- run_process(scripts[[who]][[1]],
                                c(scripts[[who]][[2]], case$model, format, artifact(format, who)), backend)
          seconds <- as.numeric(Sys.time() - started, units = "secs")
          if (i == 1) next # warm-up: file caches
          values[[who]] <- c(values[[who]], if (case$measure == "cold start, s") seconds
                                            else report$max_rss_kb / 1024)
          if (who != "floor") modules[[who]] <- report$modules
        }
      }
      py <- median(values$py)
      add_row <- function(benchmark, value, target) {
        rows[[length(rows) + 1]] <<- data.frame(
          benchmark = benchmark, backend = backend, format = format, model = case$model,
          baseline = sprintf("fresh python [%s]", paste(modules$py, collapse = " ")),
          baseline_value = signif(py, 4), value = signif(value, 4),
          ratio = round(value / py, 3), target = target, met = if (is.na(target)) NA else value / py <= target
        )
      }
      add_row(sprintf("R floor for the row below: Rscript + reticulate calling model.export(), %s",
                      case$measure), median(values$floor), NA)
      add_row(sprintf("%s (R imports: %s)", case$measure, paste(modules$r, collapse = " ")),
              median(values$r), 1.10)
    })
  }
}

# keras3 as the peer: export time and what each can do, in-process; cold
# start of a script that attaches keras3, in fresh processes taking turns.
has_keras3 <- nzchar(system.file(package = "keras3"))
if (has_keras3) {
  for (backend in backends) section(paste("keras3 peer", backend), {
    message("keras3 peer: ", backend)
    models_here <- if (backend %in% large_backends) bench_models else sub(",?large_mlp", "", bench_models)
    run_script("keras3.R", backend, models_here)
    cells <- file.path(work, sprintf("keras3-%s-cells.txt", backend))
    if (file.exists(cells)) file.copy(cells, file.path(results_dir, sprintf("keras3-cells-%s.txt", backend)),
                                      overwrite = TRUE)
  })
  for (backend in backends) {
    for (format in formats_for(backend)) section(paste("keras3 cold start", backend, format), {
      message("keras3 cold start: ", backend, " ", format)
      rscript <- file.path(R.home("bin"), "Rscript")
      values <- list(keras3 = numeric(), kerasexport = numeric())
      for (i in seq_len(runs + 1)) {
        for (who in if (i %% 2) names(values) else rev(names(values))) {
          target <- artifact(format, paste0("cold-", who))
          unlink(c(target, paste0(target, ".data")), recursive = TRUE)
          started <- Sys.time()
          run_process(rscript, c(file.path(bench_dir, "keras3_cold_start.R"), who, format, target), backend)
          if (i > 1) values[[who]] <- c(values[[who]], as.numeric(Sys.time() - started, units = "secs"))
        }
      }
      theirs <- median(values$keras3)
      ours <- median(values$kerasexport)
      rows[[length(rows) + 1]] <- data.frame(
        benchmark = "cold start, s: Rscript, library(keras3), build, export (defaults)",
        backend = backend, format = format, model = "small_mlp", baseline = "keras3's own method",
        baseline_value = signif(theirs, 4), value = signif(ours, 4), ratio = round(ours / theirs, 3),
        target = 1.00, met = ours / theirs <= 1.00
      )
    })
  }
}

# A torch model to a SavedModel, through a fresh TensorFlow process, against
# the TensorFlow backend's own export of the same weights.
if ("torch" %in% backends) section("torch to SavedModel", {
  message("torch to SavedModel")
  models_here <- if ("torch" %in% large_backends) bench_models else sub(",?large_mlp", "", bench_models)
  crossing <- run_process(python, c(file.path(bench_dir, "crossing.py"), runs, models_here), "torch")
  for (i in seq_len(nrow(crossing))) {
    row <- crossing[i, ]
    rows[[length(rows) + 1]] <- data.frame(
      benchmark = row$benchmark, backend = "torch", format = "tf_saved_model", model = row$model,
      baseline = row$baseline, baseline_value = signif(row$baseline_value, 4),
      value = signif(row$value, 4), ratio = round(row$value / row$baseline_value, 3),
      target = NA, met = NA
    )
  }
})

# 5: what later issues added, against their own baselines.
for (backend in backends) section(paste("predict from R", backend), {
  message("predict from R: ", backend)
  run_script("predict.R", backend)
})
for (backend in backends) section(paste("verify", backend), {
  message("verify: ", backend)
  run_script("verify.R", backend)
})

# The floor under every "fresh Rscript" figure above: an Rscript that only
# loads reticulate (which loads the Matrix package) vs. a Python that does
# nothing. kerasexport cannot go below it.
section("R session floor", {
  message("R session floor")
  rscript <- file.path(R.home("bin"), "Rscript")
  peak_kb <- "as.numeric(gsub('[^0-9]', '', grep('^VmHWM', readLines('/proc/self/status'), value = TRUE)))"
  r_code <- sprintf("library(reticulate); cat(jsonlite::toJSON(list(max_rss_kb = %s), auto_unbox = TRUE))",
                    peak_kb)
  py_code <- paste("import json, resource;",
                   "print(json.dumps({'max_rss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))")
  measured <- lapply(seq_len(runs + 1), function(i) {
    started <- Sys.time()
    r_report <- run_process(rscript, c("-e", r_code), "tensorflow")
    r_seconds <- as.numeric(Sys.time() - started, units = "secs")
    started <- Sys.time()
    py_report <- run_process(python, c("-c", py_code), "tensorflow")
    py_seconds <- as.numeric(Sys.time() - started, units = "secs")
    c(r_seconds = r_seconds, py_seconds = py_seconds,
      r_mb = r_report$max_rss_kb / 1024, py_mb = py_report$max_rss_kb / 1024)
  })[-1]
  value <- function(name) median(vapply(measured, function(m) m[[name]], 1))
  for (what in list(c("start-up, s", "r_seconds", "py_seconds"), c("peak memory, MB", "r_mb", "py_mb"))) {
    rows[[length(rows) + 1]] <- data.frame(
      benchmark = sprintf("R floor: Rscript -e 'library(reticulate)', %s", what[[1]]),
      backend = "(none)", format = "", model = "", baseline = "python -c pass",
      baseline_value = signif(value(what[[3]]), 4), value = signif(value(what[[2]]), 4),
      ratio = round(value(what[[2]]) / value(what[[3]]), 3), target = NA, met = NA
    )
  }
})
section("server latency and throughput", {
message("server latency and throughput")
served <- file.path(work, "served.onnx")
served_medium <- file.path(work, "served-medium.onnx")
make_artifact <- processx::run(python, c("-c", sprintf(paste(
  "import sys; sys.path[:0] = [%s, %s]; import models;",
  "from kerasexport import export_model;",
  "export_model(models.small_mlp(), %s, format='onnx', verbose=False)"),
  deparse(bench_dir), deparse(file.path(root, "inst", "python")), deparse(served))),
  env = c("current", KERAS_BACKEND = "torch"))
processx::run(python, c("-c", sprintf(paste(
  "import sys; sys.path[:0] = [%s, %s]; import models;",
  "from kerasexport import export_model;",
  "export_model(models.medium_mlp(), %s, format='onnx', verbose=False)"),
  deparse(bench_dir), deparse(file.path(root, "inst", "python")), deparse(served_medium))),
  env = c("current", KERAS_BACKEND = "torch"))
serving <- run_process(python, c(file.path(bench_dir, "serving.py"), served, runs, served_medium),
                       "torch")
for (i in seq_len(nrow(serving))) {
  row <- serving[i, ]
  rows[[length(rows) + 1]] <- data.frame(
    benchmark = row$benchmark, backend = "(onnxruntime)", format = "onnx", model = "small_mlp",
    baseline = row$baseline, baseline_value = signif(row$baseline_value, 4),
    value = signif(row$value, 4), ratio = round(row$value / row$baseline_value, 3),
    target = row$target, met = row$met
  )
}
})

table <- do.call(rbind, rows)
cpu <- tryCatch(sub(".*: ", "", grep("model name", readLines("/proc/cpuinfo"), value = TRUE)[[1]]),
                error = function(e) "unknown CPU")
machine <- sprintf("%s; %d cores; %.0f GiB; R %s; %s", cpu, parallel::detectCores(),
                   as.numeric(system("awk '/MemTotal/ {print $2}' /proc/meminfo", intern = TRUE)) / 1024^2,
                   getRversion(), format(Sys.time(), "%Y-%m-%d", tz = "UTC"))
# A run of some sections only (BENCH_ONLY) writes results named after them,
# leaving the last full run's latest.* as they are.
stem <- if (length(only)) paste0("only-", gsub("[^A-Za-z0-9]+", "-", paste(only, collapse = "-"))) else "latest"
write.csv(table, file.path(results_dir, paste0(stem, ".csv")), row.names = FALSE)
md <- c(
  sprintf(paste("Machine: %s. Median of %d runs (%d for the small model's export time) after a warm-up,",
                "the contenders taking turns; ratio = kerasexport / baseline."), machine, runs, 4 * runs),
  "",
  "| benchmark | backend | format | model | baseline | baseline | kerasexport | ratio | target | met |",
  "|---|---|---|---|---|---|---|---|---|---|",
  apply(table, 1, function(r) paste0("| ", paste(trimws(r), collapse = " | "), " |")),
  if (length(failed)) c("", "Not measured in this run:", paste0("- ", failed))
)
writeLines(md, file.path(results_dir, paste0(stem, ".md")))
cat(md, sep = "\n")
