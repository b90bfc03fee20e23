# The vetiver path for keras3 models, served: vetiver's plumber API on a
# kerasexport artifact (what kerasexport gives vetiver) against the same
# plumber API calling keras3's predict() on the model (what vetiver-r does
# for legacy keras models), and kerasexport's own server on the same
# artifact; one client (p50, p99) and 8 at once (requests/s), loopback only.
#   Rscript bench/vetiver.R OUT.csv
args <- commandArgs(trailingOnly = TRUE)
out <- args[[1]]
bench_dir <- normalizePath(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))))
python <- file.path(dirname(bench_dir), ".venv", "bin", "python")
suppressPackageStartupMessages({library(keras3); library(kerasexport)})
work <- tempfile("kerasexport-bench-vetiver-")
dir.create(work)
keras3::set_random_seed(1)
model <- keras_model_sequential(input_shape = 4, name = "iris") |>
  layer_dense(16, activation = "relu") |> layer_dense(3, activation = "softmax", name = "species")
keras_file <- file.path(work, "iris.keras")
save_model(model, keras_file)
v <- vetiver::vetiver_model(model, "iris", prototype_data = iris[1:2, 1:4])
v_file <- file.path(work, "v.rds")
saveRDS(v, v_file)
onnx <- file.path(work, "iris.onnx")
export_savedmodel(model, onnx, format = "onnx", verbose = FALSE)

free_port <- function() {
  repeat {
    port <- sample(20000:40000, 1)
    busy <- tryCatch({close(suppressWarnings(socketConnection("127.0.0.1", port, timeout = 0.2))); TRUE},
                     error = function(e) FALSE)
    if (!busy) return(port)
  }
}

start <- function(code, ...) {
  port <- free_port()
  process <- callr::r_bg(code, args = list(port = port, ...), supervise = TRUE)
  url <- sprintf("http://127.0.0.1:%d", port)
  deadline <- Sys.time() + 180
  repeat {
    ok <- tryCatch(curl::curl_fetch_memory(paste0(url, "/ping"))$status_code == 200, error = function(e) FALSE)
    if (ok) break
    if (!process$is_alive() || Sys.time() > deadline) stop(paste(process$read_all_error_lines(), collapse = "\n"))
    Sys.sleep(0.25)
  }
  list(process = process, url = url)
}

body <- jsonlite::toJSON(iris[1, 1:4], digits = NA)
load <- function(url) {
  jsonlite::fromJSON(system2(python, c(file.path(bench_dir, "http_load.py"), url, shQuote(body), 200, 8, 5),
                             stdout = TRUE))
}
rows <- list()
measure <- function(label, server, route) {
  on.exit(server$process$kill())
  result <- load(paste0(server$url, route))
  rows[[length(rows) + 1]] <<- data.frame(server = label, p50_ms = result$p50_ms, p99_ms = result$p99_ms,
                                          requests_per_s = result$requests_per_s)
}
measure("plumber + keras3 predict() (vetiver-r's way for legacy keras)", start(function(port, keras_file) {
  model <- keras3::load_model(keras_file)
  plumber::pr() |>
    plumber::pr_get("/ping", function() "ok") |>
    plumber::pr_post("/predict", function(req) {
      as.data.frame(stats::predict(model, as.matrix(as.data.frame(req$body)), verbose = 0))
    }) |>
    plumber::pr_run(port = port, host = "127.0.0.1")
}, keras_file = keras_file), "/predict")
measure("vetiver_api() on a kerasexport ONNX artifact", start(function(port, v_file) {
  v <- readRDS(v_file)
  plumber::pr() |> vetiver::vetiver_api(v) |> plumber::pr_run(port = port, host = "127.0.0.1")
}, v_file = v_file), "/predict")
server <- serve_savedmodel(onnx, port = free_port())
body <- jsonlite::toJSON(list(instances = list(unname(unlist(iris[1, 1:4])))), auto_unbox = FALSE, digits = NA)
result <- load(paste0(server$url, "/v1/models/iris:predict"))
server$stop()
rows[[length(rows) + 1]] <- data.frame(server = "kerasexport's server (TF-Serving API), same artifact",
                                       p50_ms = result$p50_ms, p99_ms = result$p99_ms,
                                       requests_per_s = result$requests_per_s)
table <- do.call(rbind, rows)
table$vs_keras3_plumber <- table$requests_per_s / table$requests_per_s[[1]]
utils::write.csv(table, out, row.names = FALSE)
print(table)
