"""schemathesis (pinned in tools/requirements-lock.txt), with all its checks
and a fixed seed, against the server's own /openapi.json, for a SavedModel
and an ONNX artifact: every request it makes, valid or not, must get an
answer that the document allows, and never a 5xx."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ServerProcess
from conftest import backend
from conftest import make_iris_model
from kerasexport import export_model

pytestmark = pytest.mark.skipif(backend() != "tensorflow",
                                reason="needs a SavedModel; the API is the same on every backend")


@pytest.fixture(scope="module")
def model():
    return make_iris_model(5)


@pytest.mark.parametrize("format", ["tf_saved_model", "onnx"])
def test_schemathesis_finds_nothing(tmp_path, model, format):
    schemathesis = shutil.which("schemathesis", path=os.path.dirname(sys.executable))
    if schemathesis is None:
        pytest.skip("schemathesis is not installed (tools/requirements-lock.txt pins it)")
    base = tmp_path / "iris"
    export_model(model, str(base), format=format, version=1, verbose=False)
    server = ServerProcess(base, tmp_path / "server.log")
    try:
        run = subprocess.run(
            [schemathesis, "run", f"{server.url}/openapi.json", "--checks", "all",
             "--seed", "20261203",
             "--max-examples", os.environ.get("KERASEXPORT_SCHEMATHESIS_EXAMPLES", "100"),
             "--request-timeout", "30", "--no-color"],
            capture_output=True, text=True, timeout=1800, cwd=tmp_path,
            env=dict(os.environ, SCHEMATHESIS_HOOKS=""))
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        assert server.process.poll() is None
    finally:
        server.close()
