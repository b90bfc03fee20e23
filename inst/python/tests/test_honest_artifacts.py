"""No artifact that lies: the checks an export makes before it places an
artifact (``probe``), the routes around Keras' exporters' bugs, and the
refusals of what a format cannot express (``limits``), on this backend."""

import os

import numpy as np
import pytest

from conftest import backend
from kerasexport import export_model
from kerasexport import load_artifact
from kerasexport import probe
from kerasexport.errors import KerasExportError


def _mean_over_time():
    import keras

    keras.utils.set_random_seed(4)
    series = keras.Input((None, 4), name="series")
    return keras.Model(series, keras.layers.GlobalAveragePooling1D(name="mean")(series))


def _first_step_onnx(path):
    """An ONNX graph that declares its time axis free but reads only the
    first step: right at length 1, wrong at every other."""
    import onnx
    from onnx import TensorProto
    from onnx import helper

    index = helper.make_tensor("first", TensorProto.INT64, [], [0])
    graph = helper.make_graph(
        [helper.make_node("Gather", ["series", "first"], ["mean"], axis=1)], "lies",
        [helper.make_tensor_value_info("series", TensorProto.FLOAT, ["batch", "time", 4])],
        [helper.make_tensor_value_info("mean", TensorProto.FLOAT, ["batch", 4])],
        initializer=[index])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_a_free_axis_the_artifact_does_not_honour_is_caught(tmp_path):
    model = _mean_over_time()
    model(np.zeros((1, 1, 4), "float32"))
    path = str(tmp_path / "lies.onnx")
    _first_step_onnx(path)
    from kerasexport import keras_private

    with pytest.raises(probe.DynamicAxisError) as caught:
        probe.check(model, path, "onnx", keras_private.input_signature(model), backend())
    assert caught.value.r_class == "unsupported_combination"
    assert "axis 2 of 'series'" in caught.value.message
    assert caught.value.fields["alternatives"]


def test_exported_artifacts_honour_every_free_axis(tmp_path):
    """A sequence model's artifacts give the model's answers at lengths other
    than the one the exporter traced (torch's ONNX exporter alone would be
    right at length 1 only: kerasexport writes it through TensorFlow)."""
    import keras

    keras.utils.set_random_seed(5)
    series = keras.Input((None, 8), name="series")
    model = keras.Model(series, keras.layers.Dense(1, name="forecast")(
        keras.layers.LSTM(6)(series)))
    for format, name in (("onnx", "m.onnx"), ("openvino", "m.xml")):
        path = str(tmp_path / name)
        export_model(model, path, format=format, verbose=False)
        predictor = load_artifact(path)
        for length in (1, 2, 7, 13):
            x = np.random.default_rng(length).standard_normal((2, length, 8)).astype("float32")
            got = predictor.predict(x)["forecast"]
            want = np.asarray(keras.ops.convert_to_numpy(model(x)))
            np.testing.assert_allclose(got, want, atol=1e-5, err_msg=f"{format} at {length}")


def test_time_distributed_over_any_length_keeps_every_step(tmp_path):
    """Keras 3.15's TimeDistributed maps over the batch size in a traced
    graph (as many steps out as instances in); kerasexport mends it for the
    trace."""
    import keras

    keras.utils.set_random_seed(6)
    series = keras.Input((None, 8), name="series")
    model = keras.Model(series, keras.layers.TimeDistributed(
        keras.layers.Dense(3), name="tags")(keras.layers.Dense(5)(series)))
    formats = ["onnx"] + (["tf_saved_model"] if backend() != "torch" else [])
    for format in formats:
        path = str(tmp_path / ("m.onnx" if format == "onnx" else "m"))
        export_model(model, path, format=format, verbose=False)
        x = np.random.default_rng(0).standard_normal((2, 5, 8)).astype("float32")
        got = load_artifact(path).predict(x)
        (values,) = got.values()
        assert values.shape == (2, 5, 3), format
        np.testing.assert_allclose(values, keras.ops.convert_to_numpy(model(x)), atol=1e-5)


def test_what_a_format_cannot_express_is_refused_before_anything_is_written(tmp_path):
    import keras

    series = keras.Input((None, 8), name="series")
    model = keras.Model(series, keras.layers.GRU(4, name="gru")(series))
    for format, name in (("litert", "m.tflite"), ("torch", "m.pt2")):
        with pytest.raises(KerasExportError) as caught:
            export_model(model, str(tmp_path / name), format=format, verbose=False)
        assert caught.value.r_class == "unsupported_combination"
        assert "GRU 'gru'" in caught.value.message
        assert "tf_saved_model" in caught.value.fields["alternatives"]
    assert os.listdir(tmp_path) == []


def test_a_fixed_time_axis_is_unrolled_for_litert(tmp_path):
    """With the time axis given a length, LiteRT holds the recurrent layer
    (unrolled), on every backend (JAX and torch through TensorFlow)."""
    import keras

    keras.utils.set_random_seed(7)
    series = keras.Input((None, 8), name="series")
    model = keras.Model(series, keras.layers.LSTM(4, name="lstm")(series))
    path = str(tmp_path / "m.tflite")
    export_model(model, path, format="litert", verbose=False,
                 input_signature=[keras.InputSpec(shape=(None, 6, 8))])
    x = np.random.default_rng(1).standard_normal((3, 6, 8)).astype("float32")
    (got,) = load_artifact(path).predict(x).values()
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(model(x)), atol=1e-5)


@pytest.mark.skipif("backend() != 'jax'")
def test_jax_max_pooling_runs_in_onnxruntime(tmp_path):
    """jax2onnx writes 2D max pooling as a pool over 4 axes, which
    onnxruntime refuses; kerasexport narrows it to the 2 spatial axes."""
    import keras

    keras.utils.set_random_seed(8)
    for pool, shape in ((keras.layers.MaxPooling2D(2), (8, 8, 3)),
                        (keras.layers.MaxPooling3D(2), (4, 4, 4, 2))):
        model = keras.Sequential([keras.Input(shape), pool, keras.layers.Flatten(),
                                  keras.layers.Dense(2)])
        x = np.random.default_rng(2).random((3, *shape)).astype("float32")
        model(x)
        path = str(tmp_path / f"{type(pool).__name__}.onnx")
        export_model(model, path, format="onnx", verbose=False)
        (got,) = load_artifact(path).predict(x).values()
        np.testing.assert_allclose(got, keras.ops.convert_to_numpy(model(x)), atol=1e-5)


def test_openvino_computes_in_float32_unless_asked(tmp_path):
    """OpenVINO's CPU plugin computes in bfloat16 on CPUs that have it
    unless told otherwise; kerasexport tells it float32, on every CPU, and
    offers bfloat16 on request."""
    import keras

    keras.utils.set_random_seed(9)
    model = keras.Sequential([keras.Input((32,), name="x"), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(8, name="y")])
    path = str(tmp_path / "m.xml")
    export_model(model, path, format="openvino", verbose=False)
    x = np.random.default_rng(3).standard_normal((16, 32)).astype("float32")
    want = np.asarray(keras.ops.convert_to_numpy(model(x)))
    exact = load_artifact(path)
    assert exact.precision == "float32"
    np.testing.assert_allclose(exact.predict(x)["y"], want, atol=1e-5)
    reduced = load_artifact(path, precision="bfloat16")
    assert reduced.precision in ("bfloat16", "float32")  # float32 where the CPU has no bf16
    np.testing.assert_allclose(reduced.predict(x)["y"], want, atol=0.1)
    export_model(model, str(tmp_path / "m.onnx"), format="onnx", verbose=False)
    with pytest.raises(KerasExportError, match="float32 only"):
        load_artifact(str(tmp_path / "m.onnx"), precision="bfloat16")


def test_openvino_artifacts_return_only_the_models_outputs(tmp_path):
    import keras

    keras.utils.set_random_seed(10)
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(20, 4, mask_zero=True)(tokens))
    model = keras.Model(tokens, keras.layers.Dense(2, name="score")(pooled))
    path = str(tmp_path / "m.xml")
    export_model(model, path, format="openvino", verbose=False)
    predictor = load_artifact(path)
    assert predictor.output_names() == ["score"]
    x = np.array([[3, 4, 0], [5, 0, 0]], dtype="int32")
    np.testing.assert_allclose(predictor.predict(x)["score"],
                               keras.ops.convert_to_numpy(model(x)), atol=1e-5)
