library(testthat)
library(kerasexport)

test_check("kerasexport")
