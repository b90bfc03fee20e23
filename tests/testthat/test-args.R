# The R -> Python argument rules, checked against what the real Python module
# receives (kerasexport.describe_kwargs reports the Python types).

received <- function(...) {
  kerasexport:::call_python("describe_kwargs", kerasexport:::python_kwargs(list(...)))
}

test_that("scalars convert by the documented rules", {
  skip_if_no_python()
  got <- received(none = NULL, flag = TRUE, off = FALSE, whole = 17, int = 3L,
                  fraction = 1.5, missing = NA, text = "a")
  expect_equal(got$none, "None")
  expect_equal(got$flag, "bool")
  expect_equal(got$off, "bool")
  expect_equal(got$whole, "int")
  expect_equal(got$int, "int")
  expect_equal(got$fraction, "float")
  expect_equal(got$missing, "None")
  expect_equal(got$text, "str")
})

test_that("shapes with NA become tuples of int and None", {
  skip_if_no_python()
  got <- received(shape = c(NA, 28, 28, 1), listed = list(NULL, 784))
  expect_equal(got$shape, c("tuple", "None", "int", "int", "int"))
  expect_equal(got$listed, c("list", "None", "int"))
})

test_that("lists become dicts and lists, recursively", {
  skip_if_no_python()
  got <- received(jax2tf_kwargs = list(enable_xla = FALSE, polymorphic_shapes = list("(b, 4)")),
                  items = list(1, "a", TRUE), words = c("a", "b"), numbers = c(0.5, 2.5))
  expect_equal(got$jax2tf_kwargs$enable_xla, "bool")
  expect_equal(got$jax2tf_kwargs$polymorphic_shapes, c("list", "str"))
  expect_equal(got$items, c("list", "int", "str", "bool"))
  expect_equal(got$words, c("list", "str", "str"))
  expect_equal(got$numbers, c("list", "float", "float"))
})

test_that("Python objects and R arrays pass through", {
  skip_if_no_python()
  spec <- keras()$InputSpec(shape = list(NULL, 4L))
  got <- received(spec = spec, matrix = matrix(1:6, 2), tensor = keras()$ops$ones(list(2L)))
  expect_equal(got$spec, "InputSpec")
  expect_equal(got$matrix, "ndarray")
  expect_false(identical(got$tensor, "NoneType"))
})

test_that("bad arguments are classed errors that name the argument", {
  expect_error(kerasexport:::python_kwargs(list(1)), class = "kerasexport_error_argument")
  expect_error(kerasexport:::python_kwargs(list(a = 1, a = 2)),
               regexp = "more than once", class = "kerasexport_error_argument")
  expect_error(kerasexport:::python_kwargs(list(fn = mean)),
               regexp = "fn", class = "kerasexport_error_argument")
  expect_error(kerasexport:::python_kwargs(list(opts = list(a = 1, 2))),
               regexp = "some elements named", class = "kerasexport_error_argument")
  expect_error(kerasexport:::python_kwargs(list(names = c("a", NA))),
               regexp = "missing values", class = "kerasexport_error_argument")
  expect_error(kerasexport:::python_kwargs(list(nested = list(f = identity))),
               regexp = "nested\\$f", class = "kerasexport_error_argument")
})
