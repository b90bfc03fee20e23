import pytest

from conftest import artifact_name
from conftest import backend_formats
from kerasexport import describe_artifact
from kerasexport import export_model
from kerasexport import signatures
from kerasexport import verify
from kerasexport.signatures import SignatureError


def r_spec(shape, dtype=None, name=None):
    return {"kerasexport_spec": True, "shape": shape, "dtype": dtype, "name": name}


def two_inputs():
    import keras

    sepal = keras.Input((2,), name="sepal")
    petal = keras.Input((2,), name="petal")
    joined = keras.layers.Concatenate()([sepal, petal])
    return keras.Model([sepal, petal], [keras.layers.Dense(3, name="species")(joined),
                                        keras.layers.Dense(1, name="size")(joined)])


def test_names_come_from_the_model():
    model = two_inputs()
    assert signatures.input_names(model) == ["sepal", "petal"]
    assert signatures.output_names(model, 2) == ["species", "size"]


def test_r_specs_are_completed_from_the_model():
    model = two_inputs()
    resolved = signatures.resolve(model, {"petal": r_spec([None, 2]), "sepal": r_spec([None, 2.0])})
    specs = resolved[0]
    assert [s.name for s in specs] == ["sepal", "petal"]
    assert all(s.dtype == "float32" and s.shape == (None, 2) for s in specs)


@pytest.mark.parametrize("signature, message", [
    ([r_spec([None, 2])], "describes 1 input"),
    ([r_spec([None, 2]), r_spec([None, 2.5])], "Dimension 2 of input 2 \\('petal'\\) is 2.5"),
    ([r_spec([None, 2]), r_spec([None, -1])], "is -1"),
    ({"sepal": r_spec([None, 2]), "leaf": r_spec([None, 2])}, "does not have: 'leaf'"),
    ([r_spec([None, 2]), r_spec([None, 2], dtype="float99")], "unknown dtype"),
    ([r_spec([None, 2]), r_spec([None, 2, 1])], "rank 3"),
])
def test_malformed_signatures_are_named(signature, message):
    with pytest.raises(SignatureError, match=message):
        signatures.resolve(two_inputs(), signature)


def test_python_specs_pass_through():
    import keras

    given = [keras.InputSpec(shape=(None, 2))]
    assert signatures.resolve(two_inputs(), given) is given


@pytest.mark.parametrize("format", backend_formats())
def test_named_artifact_is_described_with_the_model_names(tmp_path, format):
    model = two_inputs()
    path = export_model(model, str(tmp_path / artifact_name(format)), format=format,
                        verbose=False)["path"]
    info = describe_artifact(path)
    endpoint = info["endpoints"][0]
    assert [v["name"] for v in endpoint["inputs"]] == ["sepal", "petal"]
    assert [v["name"] for v in endpoint["outputs"]] == ["species", "size"]
    assert info["kerasexport"]["inputs"] == ["sepal", "petal"]
    assert verify(path, format, model)["passed"]


def test_unbuilt_model_is_built_from_the_signature(tmp_path):
    import keras

    model = keras.Sequential([keras.layers.Dense(2)])
    path = export_model(model, str(tmp_path / "m.onnx"), format="onnx", verbose=False,
                        input_signature=r_spec([None, 3]))["path"]
    assert model.built
    assert verify(path, "onnx", model)["passed"]
