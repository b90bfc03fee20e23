# What the in-process benchmark scripts (overhead.R, predict.R, verify.R)
# share: their arguments, a timer, and the way contenders take turns.
# Sourced by them; run.R calls them as `Rscript <script> <out.csv> <runs> ...`.
args <- commandArgs(TRUE)
out <- args[[1]]
runs <- if (length(args) >= 2) as.integer(args[[2]]) else 5L

seconds <- function(expr) {
  started <- Sys.time()
  expr
  as.numeric(Sys.time() - started, units = "secs")
}

# Each contender (a function returning seconds) once per run, taking turns,
# so that they share the machine's noise; one warm-up call each first.
# Returns the median seconds per contender, named as `...` is.
take_turns <- function(...) {
  contenders <- list(...)
  for (f in contenders) f()
  times <- vapply(seq_len(runs), function(i) vapply(contenders, function(f) f(), 1),
                  numeric(length(contenders)))
  medians <- apply(matrix(times, nrow = length(contenders)), 1, stats::median)
  stats::setNames(medians, names(contenders))
}
