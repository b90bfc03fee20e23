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
# so that they share the machine's noise; one warm-up call each first. The
# order turns round from one run to the next, so that none always runs first
# (after the one before it has left its garbage behind). Returns the median
# seconds per contender, named as `...` is.
take_turns <- function(..., times = runs) {
  contenders <- list(...)
  for (f in contenders) f()
  k <- length(contenders)
  measured <- matrix(NA_real_, nrow = k, ncol = times)
  for (i in seq_len(times)) {
    for (j in (seq_len(k) + i - 2) %% k + 1) measured[j, i] <- contenders[[j]]()
  }
  stats::setNames(apply(measured, 1, stats::median), names(contenders))
}
