"""Every format kerasexport knows, from this backend, for the model shapes
people train (a Sequential, several named inputs and outputs, integer
inputs), each with a dynamic batch: exported (directly, or through a fresh
process on a backend that writes the format), verified in a fresh process
through the signature clients call, described, and run here at batch sizes 1
and 5 against the model's own predictions."""

import numpy as np
import pytest

from conftest import backend
from kerasexport import describe_artifact
from kerasexport import export_model
from kerasexport import load_artifact
from kerasexport import verify

FILES = {"tf_saved_model": "model", "onnx": "model.onnx", "litert": "model.tflite",
         "openvino": "model.xml", "torch": "model.pt2"}


def sequential():
    import keras

    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((4,), name="features"),
                             keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(3, activation="softmax", name="species")])


def named_io():
    import keras

    keras.utils.set_random_seed(2)
    sepal, petal = keras.Input((2,), name="sepal"), keras.Input((2,), name="petal")
    joined = keras.layers.Concatenate()([sepal, petal])
    return keras.Model({"sepal": sepal, "petal": petal},
                       {"species": keras.layers.Dense(3, name="species")(joined),
                        "size": keras.layers.Dense(1, name="size")(joined)})


def int_inputs():
    import keras

    keras.utils.set_random_seed(3)
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    embedded = keras.layers.Embedding(50, 4)(tokens)
    return keras.Model(tokens, keras.layers.Dense(2, name="score")(
        keras.layers.GlobalAveragePooling1D()(embedded)))


MODELS = {"sequential": sequential, "named_io": named_io, "int_inputs": int_inputs}


def data(shape, n, seed=0):
    rng = np.random.default_rng(seed)
    if shape == "named_io":
        return {"sepal": rng.random((n, 2)).astype("float32"),
                "petal": rng.random((n, 2)).astype("float32")}
    if shape == "int_inputs":
        return rng.integers(0, 50, (n, 6)).astype("int32")
    return rng.random((n, 4)).astype("float32")


def model_outputs(model, x):
    import keras

    out = model(x)
    if isinstance(out, dict):
        return {k: np.asarray(keras.ops.convert_to_numpy(v)) for k, v in out.items()}
    return [np.asarray(keras.ops.convert_to_numpy(out))]


@pytest.mark.parametrize("format", list(FILES))
@pytest.mark.parametrize("shape", list(MODELS))
def test_every_format_round_trips(tmp_path, format, shape):
    model = MODELS[shape]()
    model(data(shape, 2))
    path = tmp_path / FILES[format]
    result = export_model(model, str(path), format=format, verbose=False)
    assert result["backend"] == backend()
    check = verify(str(path), None, model, inputs=data(shape, 7, seed=1))
    assert check["passed"] and check["format"] == format
    info = describe_artifact(str(path))
    assert info["format"] == format
    endpoint = info["endpoints"][0]
    assert all(t["shape"] is None or t["shape"][0] is None for t in endpoint["inputs"]), endpoint
    predictor = load_artifact(str(path))
    for n in (1, 5):
        x = data(shape, n, seed=n)
        got = predictor.predict(x)
        want = model_outputs(model, x)
        if isinstance(want, dict) and set(want) == set(got):
            pairs = [(want[k], got[k]) for k in want]
        else:
            pairs = list(zip(want if isinstance(want, list) else list(want.values()),
                             [got[k] for k in predictor.output_names()]))
        for expected, actual in pairs:
            np.testing.assert_allclose(actual, expected, atol=1e-5)
