#!/usr/bin/env bash
# pytest for the bundled Python module, once per Keras backend (one process
# each, since KERAS_BACKEND is fixed at import).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
status=0
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(tensorflow jax torch)
for backend in "${backends[@]}"; do
  echo "== pytest, KERAS_BACKEND=$backend =="
  KERAS_BACKEND=$backend "$ROOT/.venv/bin/python" -m pytest -q -p no:cacheprovider --disable-warnings \
    "$ROOT/inst/python/tests" || status=1
done
exit $status
