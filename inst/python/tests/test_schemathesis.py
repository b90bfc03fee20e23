"""schemathesis (pinned in tools/requirements-lock.txt), with all its checks
and a fixed seed, against the server's own /openapi.json, for a SavedModel
and an ONNX artifact: every request it makes, valid or not, must get an
answer that the document allows, and never a 5xx."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import PACKAGE_PARENT
from conftest import backend
from kerasexport import export_model

pytestmark = pytest.mark.skipif(backend() != "tensorflow",
                                reason="needs a SavedModel; the API is the same on every backend")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(5)
    return keras.Sequential([keras.Input((4,), name="measurements"),
                             keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(3, activation="softmax", name="species")])


@pytest.mark.parametrize("format", ["tf_saved_model", "onnx"])
def test_schemathesis_finds_nothing(tmp_path, model, format):
    schemathesis = shutil.which("schemathesis", path=os.path.dirname(sys.executable))
    if schemathesis is None:
        pytest.skip("schemathesis is not installed (tools/requirements-lock.txt pins it)")
    base = tmp_path / "iris"
    export_model(model, str(base), format=format, version=1, verbose=False)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=PACKAGE_PARENT)
    server = subprocess.Popen(
        [sys.executable, "-m", "kerasexport.server", "--path", str(base), "--port", str(port),
         "--log-file", str(tmp_path / "server.log")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/v1/models/iris", timeout=2)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    pytest.fail("the server did not start")
                time.sleep(0.2)
        run = subprocess.run(
            [schemathesis, "run", f"{url}/openapi.json", "--checks", "all", "--seed", "20261203",
             "--max-examples", os.environ.get("KERASEXPORT_SCHEMATHESIS_EXAMPLES", "100"),
             "--request-timeout", "30", "--no-color"],
            capture_output=True, text=True, timeout=1800, cwd=tmp_path,
            env=dict(os.environ, SCHEMATHESIS_HOOKS=""))
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        assert server.poll() is None
    finally:
        server.terminate()
        server.wait(10)
