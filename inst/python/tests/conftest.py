import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_PARENT = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(PACKAGE_PARENT))
HIDE_MODULES = os.path.join(REPO, "tests", "testthat", "fixtures", "hide-modules")

sys.path.insert(0, PACKAGE_PARENT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")


def backend():
    import keras

    return keras.backend.backend()


def backend_formats():
    return ["onnx"] if backend() == "torch" else ["tf_saved_model", "onnx"]


def artifact_name(format):
    return "model.onnx" if format == "onnx" else "model"


@pytest.fixture
def small_model():
    import keras

    keras.utils.set_random_seed(1)
    return keras.Sequential([
        keras.Input((4,), name="features"),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ])


@pytest.fixture
def iris_like():
    return np.random.default_rng(0).standard_normal((10, 4)).astype("float32")


def make_iris_model(seed, hidden=8):
    """The tests' small iris classifier: 4 'measurements' in, 3 'species'
    probabilities out, with a hidden layer of ``hidden`` units (None: none)."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input((4,), name="measurements")]
    if hidden:
        layers.append(keras.layers.Dense(hidden, activation="relu"))
    layers.append(keras.layers.Dense(3, activation="softmax", name="species"))
    return keras.Sequential(layers)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m kerasexport.server`` in its own process, as R starts it,
    logging to ``log``; ready once it says so over the V2 health route."""

    def __init__(self, path, log, *args, timeout=120):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kerasexport.server", "--path", str(path),
             "--port", str(self.port), "--log-file", str(log), *args],
            env=dict(os.environ, PYTHONPATH=PACKAGE_PARENT),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/v2/health/ready", timeout=2) as answer:
                    if json.loads(answer.read())["ready"]:
                        return
            except OSError:
                pass
            if time.time() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError("the server did not start:\n"
                                   + (log.read_text() if os.path.exists(log) else "(no log)"))
            time.sleep(0.2)

    def close(self):
        self.process.terminate()
        self.process.wait(10)
