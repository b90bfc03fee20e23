#!/usr/bin/env bash
# Builds the package and runs R CMD check on the tarball. The test suite is
# left to `make test`, which runs it once per Keras backend.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
R CMD build "$ROOT" >build.log 2>&1 || { cat build.log; exit 1; }
tarball=$(ls kerasexport_*.tar.gz)
_R_CHECK_FORCE_SUGGESTS_=false R CMD check --no-manual --no-tests "$tarball" >check.log 2>&1 || true
cat check.log
status_line=$(grep -E '^Status:' check.log || true)
echo "$status_line"
case "$status_line" in
  "Status: OK") ;;
  *) echo "R CMD check is not clean"; exit 1 ;;
esac
