# The README's table of models x formats x backends, from the report that
# tests/testthat/test-zoo.R writes with KERASEXPORT_ZOO_REPORT=FILE:
#   Rscript tools/zoo-table.R FILE
args <- commandArgs(trailingOnly = TRUE)
report <- utils::read.delim(args[[1]], header = FALSE,
                            col.names = c("backend", "model", "format", "outcome", "seconds"))
report <- report[!duplicated(report[, 1:3], fromLast = TRUE), ]
formats <- c(tf_saved_model = "SavedModel", onnx = "ONNX", litert = "LiteRT",
             openvino = "OpenVINO", torch = "torch (.pt2)")
backends <- c(tensorflow = "TensorFlow", jax = "JAX", torch = "PyTorch")
cell <- function(outcome) {
  if (startsWith(outcome, "works via")) return(paste0("yes (via ", sub("works via ", "", outcome), ")"))
  if (outcome == "works") return("yes")
  if (startsWith(outcome, "refused")) return("refused")
  outcome
}
models <- unique(report$model)
lines <- c(paste0("| model | backend | ", paste(formats, collapse = " | "), " |"),
           paste0("|", strrep(" --- |", length(formats) + 2)))
for (model in models) {
  for (backend in names(backends)) {
    rows <- report[report$model == model & report$backend == backend, ]
    if (nrow(rows) == 0) next
    cells <- vapply(names(formats), function(f) {
      hit <- rows$outcome[rows$format == f]
      if (length(hit)) cell(hit[[1]]) else "not run"
    }, "")
    lines <- c(lines, sprintf("| %s | %s | %s |", model, backends[[backend]], paste(cells, collapse = " | ")))
  }
}
cat(lines, sep = "\n")
cat(sprintf("\n%d cells, %.0f s in all.\n", nrow(report), sum(report$seconds)))
