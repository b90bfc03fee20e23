# kerasexport: the two commands users need are `make demo` and `make test`.
# Both set everything up first (tools/setup.sh skips what is already done).

BACKENDS ?= tensorflow jax torch
VENV_PYTHON := .venv/bin/python
R_TESTS := tests/testthat

.PHONY: setup demo test test-r test-python check docs bench clean

setup:
	@bash tools/setup.sh

## The main job: train a classifier on iris in R, export it to SavedModel and
## ONNX, reload both in a fresh process and compare with the model.
demo: setup
	@Rscript inst/examples/iris.R

## All tests: testthat once per Keras backend (KERAS_BACKEND is fixed when
## Keras is first imported, so each backend needs its own process), then
## pytest for the Python module, also per backend.
test: setup
	@Rscript tools/run-r-tests.R $(BACKENDS)
	@bash tools/run-python-tests.sh $(BACKENDS)

test-r: setup
	@Rscript tools/run-r-tests.R $(BACKENDS)

test-python: setup
	@bash tools/run-python-tests.sh $(BACKENDS)

## R CMD check of the built package (tests run above, once per backend).
check: setup
	@bash tools/check.sh

## Regenerate NAMESPACE and man/ from the roxygen comments.
docs:
	@Rscript -e 'roxygen2::roxygenise()'

bench: setup
	@Rscript bench/run.R

clean:
	rm -rf .cache/stamps kerasexport.Rcheck kerasexport_*.tar.gz
