#' @keywords internal
"_PACKAGE"

## usethis namespace: start
#' @importFrom rlang caller_env %||%
## usethis namespace: end
NULL
