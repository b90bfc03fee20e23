#!/usr/bin/env bash
# Sets up everything kerasexport needs on a fresh Debian 12 machine, and skips
# each step that is already done:
#   1. Debian's R and the R packages the package and its tests use;
#   2. keras3, tensorflow and their R dependencies (with reticulate >= 1.42)
#      from the folder of source tarballs beside the checkout, when there is
#      one (CRAN cannot be reached from these machines);
#   3. otherwise reticulate >= 1.41 (bookworm ships 1.28, which refuses
#      NumPy 2), built from Debian trixie's source tarball;
#   4. the pinned Python virtualenv in .venv, registered as the virtualenv
#      "r-kerasexport" so that library(kerasexport) finds it from anywhere,
#      and .venv-clients with the clients the tests use (tritonclient);
#   5. the kerasexport R package itself.
# Each step keeps a stamp (under .cache/stamps) keyed on what it depends on.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE="$ROOT/.cache"
STAMPS="$CACHE/stamps"
VENV="$ROOT/.venv"
LOCK="$ROOT/tools/requirements-lock.txt"
NODEPS="$ROOT/tools/requirements-nodeps.txt"
PYTHON=${KERASEXPORT_BASE_PYTHON:-python3}
mkdir -p "$STAMPS"

say() { printf '[setup] %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# 1. Debian packages ---------------------------------------------------------
APT_PACKAGES=(r-base-dev r-cran-testthat r-cran-roxygen2 r-cran-knitr
  r-cran-rmarkdown r-cran-jsonlite r-cran-rlang r-cran-cli r-cran-withr
  r-cran-processx r-cran-callr r-cran-rcpp r-cran-rcpptoml r-cran-here
  r-cran-png r-cran-rappdirs r-cran-matrix r-cran-curl pandoc xz-utils
  chromium wrk)  # chromium: the browser test of the server's page; wrk: bench/batching.py
# keras3 and tensorflow (step 2) from a folder of their source tarballs
# beside the checkout, when there is one; these Debian packages are what
# they import besides.
R_PACKAGES=${KERASEXPORT_R_PACKAGES:-$ROOT/../shared/r-packages}
if [ -f "$R_PACKAGES/keras3.tar.gz" ]; then
  APT_PACKAGES+=(r-cran-zeallot r-cran-magrittr r-cran-glue r-cran-fastmap r-cran-r6
    r-cran-generics r-cran-whisker r-cran-yaml r-cran-rstudioapi r-cran-lifecycle
    r-cran-base64enc r-cran-tidyselect r-cran-backports)
fi
# vetiver, pins and bundle (step 2b), when their sources are there: what
# they import from Debian, and plumber to serve.
if [ -f "$R_PACKAGES/vetiver.tar.gz" ]; then
  APT_PACKAGES+=(r-cran-hardhat r-cran-readr r-cran-httr r-cran-lobstr r-cran-plumber
    r-cran-fs r-cran-purrr r-cran-tibble r-cran-vctrs r-cran-digest r-cran-rappdirs)
fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages: present"
fi

# 2. keras3, tensorflow and their R dependencies ------------------------------
# Users install these from CRAN; these machines cannot reach CRAN, so when a
# folder of their source tarballs sits beside the checkout (../shared/
# r-packages, or KERASEXPORT_R_PACKAGES), they are installed from it, with
# the Debian packages they import (step 1). The tests then run against the
# real packages. Without the folder, this step is skipped and the tests that
# need keras3 skip.
if [ -f "$R_PACKAGES/keras3.tar.gz" ]; then
  # reticulate first (keras3 needs >= 1.42), then in the order of their imports.
  order=(reticulate config tfautograph tfruns tensorflow dotty keras3)
  r_key=$(for p in "${order[@]}"; do sha256sum "$R_PACKAGES/$p.tar.gz"; done | sha256sum | cut -c1-16)
  installed_all=$(Rscript -e 'cat(all(vapply(commandArgs(TRUE), requireNamespace, TRUE, quietly = TRUE)))' "${order[@]}" 2>/dev/null || echo FALSE)
  if [ "$(cat "$STAMPS/r-packages" 2>/dev/null)" = "$r_key" ] && [ "$installed_all" = TRUE ]; then
    say "keras3, tensorflow and friends from $R_PACKAGES: installed"
  else
    for p in "${order[@]}"; do
      say "installing the R package $p from $R_PACKAGES"
      as_root R CMD INSTALL --no-docs --no-html --no-multiarch "$R_PACKAGES/$p.tar.gz" \
        >"$CACHE/r-package-$p.log" 2>&1 || { cat "$CACHE/r-package-$p.log"; exit 1; }
    done
    echo "$r_key" >"$STAMPS/r-packages"
  fi
else
  say "no folder of keras3/tensorflow sources at $R_PACKAGES: skipping them"
fi

# 2b. vetiver, pins, bundle and their R dependencies ---------------------------
# Posit's deployment packages (vetiver-r), which kerasexport gives keras3
# models a path through; they need an rlang newer than Debian's, installed
# first (into the site library, ahead of Debian's).
if [ -f "$R_PACKAGES/vetiver.tar.gz" ]; then
  order=(rlang bundle butcher cereal rapidoc pins vetiver)
  v_key=$(for p in "${order[@]}"; do sha256sum "$R_PACKAGES/$p.tar.gz"; done | sha256sum | cut -c1-16)
  installed_all=$(Rscript -e 'cat(all(vapply(commandArgs(TRUE), requireNamespace, TRUE, quietly = TRUE)) && packageVersion("rlang") >= "1.1.0")' "${order[@]}" 2>/dev/null || echo FALSE)
  if [ "$(cat "$STAMPS/r-vetiver" 2>/dev/null)" = "$v_key" ] && [ "$installed_all" = TRUE ]; then
    say "vetiver, pins, bundle and a newer rlang from $R_PACKAGES: installed"
  else
    for p in "${order[@]}"; do
      say "installing the R package $p from $R_PACKAGES"
      as_root R CMD INSTALL --no-docs --no-html --no-multiarch "$R_PACKAGES/$p.tar.gz" \
        >"$CACHE/r-package-$p.log" 2>&1 || { cat "$CACHE/r-package-$p.log"; exit 1; }
    done
    echo "$v_key" >"$STAMPS/r-vetiver"
  fi
fi

# 3. reticulate >= 1.41 ------------------------------------------------------
if Rscript -e 'quit(status = !(requireNamespace("reticulate", quietly = TRUE) && packageVersion("reticulate") >= "1.41"))' >/dev/null 2>&1; then
  say "reticulate >= 1.41: present"
else
  say "building reticulate >= 1.41 from Debian trixie's source"
  APTDIR="$CACHE/apt-trixie"
  mkdir -p "$APTDIR/lists/partial" "$CACHE/src"
  # Use the archive the system's own apt sources already use.
  uri=$(grep -hoE '^URIs: *\S+/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')
  [ -n "$uri" ] || uri=$(grep -hoE '^deb +\S+/debian/? ' /etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $2}')
  [ -n "$uri" ] || uri="http://deb.debian.org/debian"
  echo "deb-src $uri trixie main" >"$APTDIR/sources.list"
  APTOPTS=(-o "Dir::Etc::sourcelist=$APTDIR/sources.list" -o Dir::Etc::sourceparts=/dev/null
    -o "Dir::State::Lists=$APTDIR/lists")
  as_root apt-get "${APTOPTS[@]}" update -qq
  (cd "$CACHE/src" && as_root apt-get "${APTOPTS[@]}" source --download-only --tar-only r-cran-reticulate/trixie >/dev/null)
  tarball=$(ls "$CACHE"/src/r-cran-reticulate_*.orig.tar.* | head -n1)
  rm -rf "$CACHE/src/build" && mkdir -p "$CACHE/src/build"
  tar -xf "$tarball" -C "$CACHE/src/build"
  pkgdir=$(dirname "$(find "$CACHE/src/build" -maxdepth 2 -name DESCRIPTION | head -n1)")
  as_root R CMD INSTALL --no-docs --no-html "$pkgdir" >"$CACHE/reticulate-install.log" 2>&1 ||
    { cat "$CACHE/reticulate-install.log"; exit 1; }
fi

# 4. Python virtualenv -------------------------------------------------------
venv_key=$(hash_of "$LOCK" "$NODEPS"; "$PYTHON" --version)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMPS/venv" 2>/dev/null)" = "$venv_key" ]; then
  say "Python virtualenv .venv: up to date"
else
  say "creating the Python virtualenv .venv from tools/requirements-lock.txt"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  # torch's CPU build: from the wheels on this machine's disk when there are
  # some, else from PyTorch's CPU index (PyPI's torch for Linux is a CUDA
  # build of several GB).
  torch_source=(--extra-index-url https://download.pytorch.org/whl/cpu)
  [ -d /opt/wheels ] && torch_source=(--find-links /opt/wheels)
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${torch_source[@]}" -r "$LOCK"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$NODEPS"
  echo "$venv_key" >"$STAMPS/venv"
fi
# The clients' virtualenv: Triton's client and KServe's SDK, for the tests.
CLIENTS="$ROOT/.venv-clients"
CLIENTS_LOCK="$ROOT/tools/requirements-clients.txt"
clients_key=$(hash_of "$CLIENTS_LOCK"; "$PYTHON" --version)
if [ -x "$CLIENTS/bin/python" ] && [ "$(cat "$STAMPS/venv-clients" 2>/dev/null)" = "$clients_key" ]; then
  say "clients' virtualenv .venv-clients: up to date"
else
  say "creating the clients' virtualenv .venv-clients from tools/requirements-clients.txt"
  [ -x "$CLIENTS/bin/python" ] || "$PYTHON" -m venv "$CLIENTS"
  "$CLIENTS/bin/python" -m pip install -q --disable-pip-version-check -r "$CLIENTS_LOCK"
  echo "$clients_key" >"$STAMPS/venv-clients"
fi
# Register it where reticulate looks for named virtualenvs, without replacing a
# real environment a user made there (for example with install_kerasexport()).
venv_root=${WORKON_HOME:-$HOME/.virtualenvs}
mkdir -p "$venv_root"
link="$venv_root/r-kerasexport"
if [ -L "$link" ] || [ ! -e "$link" ]; then
  ln -sfn "$VENV" "$link"
else
  say "note: $link exists and is not ours; leaving it (set KERASEXPORT_PYTHON to choose)"
fi

# 5. the R package -------------------------------------------------------------
pkg_key=$(cd "$ROOT" && find DESCRIPTION NAMESPACE R inst man -type f ! -path '*/__pycache__/*' ! -path '*/.pytest_cache/*' -print0 |
  sort -z | xargs -0 cat | sha256sum | cut -c1-16)
if [ "$(cat "$STAMPS/package" 2>/dev/null)" = "$pkg_key" ] &&
  Rscript -e 'quit(status = !requireNamespace("kerasexport", quietly = TRUE))' >/dev/null 2>&1; then
  say "R package kerasexport: installed and current"
else
  say "installing the R package kerasexport"
  as_root R CMD INSTALL --no-multiarch --with-keep.source "$ROOT" >"$CACHE/package-install.log" 2>&1 ||
    { cat "$CACHE/package-install.log"; exit 1; }
  echo "$pkg_key" >"$STAMPS/package"
fi
say "ready"
