import os
import sys

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
