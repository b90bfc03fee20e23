import os

import numpy as np
import pytest

from conftest import artifact_name
from conftest import backend
from conftest import backend_formats
from kerasexport import bridge
from kerasexport import export_model
from kerasexport import verify
from kerasexport.errors import ArtifactError
from kerasexport.errors import ExportFailedError
from kerasexport.errors import InvalidModelError
from kerasexport.errors import MismatchError


@pytest.mark.parametrize("format", backend_formats())
def test_round_trip(tmp_path, small_model, iris_like, format):
    path = tmp_path / artifact_name(format)
    result = export_model(small_model, str(path), format=format, verbose=False)
    assert result["path"] == str(path)
    assert result["backend"] == backend()
    check = verify(result["path"], format, small_model, inputs=[iris_like])
    assert check["passed"]
    assert check["max_abs_diff"] <= 1e-5
    assert os.listdir(tmp_path) == [path.name]  # no staging folder left


@pytest.mark.parametrize("model_names", [True, False])
@pytest.mark.parametrize("format", backend_formats())
def test_weights_are_stored_once(tmp_path, format, model_names):
    """Keras' own TensorFlow-backend SavedModel holds every weight twice."""
    import keras

    model = keras.Sequential([keras.Input((512,)), keras.layers.Dense(512),
                              keras.layers.BatchNormalization(), keras.layers.Dense(3)])
    weight_bytes = sum(v.numpy().nbytes for v in model.weights)
    path = tmp_path / artifact_name(format)
    export_model(model, str(path), format=format, verbose=False, model_names=model_names)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    artifact_bytes = sum(p.stat().st_size for p in files)
    # (tf2onnx may fold the batch normalization into the dense layer: smaller)
    assert 0.9 * weight_bytes <= artifact_bytes <= 1.05 * weight_bytes + 200_000
    x = np.random.default_rng(1).random((4, 512), dtype=np.float32)
    assert verify(str(path), format, model, inputs=[x])["passed"]


@pytest.mark.parametrize("batch", [1, 37])
def test_dynamic_batch(tmp_path, small_model, batch):
    format = backend_formats()[-1]
    path = export_model(small_model, str(tmp_path / artifact_name(format)), format=format,
                        verbose=False)["path"]
    inputs = [np.ones((batch, 4), dtype="float32")]
    assert verify(path, format, small_model, inputs=inputs)["batch_size"] == batch


def test_normalization_constants_are_embedded_in_onnx(tmp_path, iris_like):
    import keras
    import onnx

    normalize = keras.layers.Normalization()
    normalize.adapt(iris_like * 3 + 5)
    model = keras.Sequential([keras.Input((4,)), normalize, keras.layers.Dense(3)])
    path = export_model(model, str(tmp_path / "norm.onnx"), format="onnx", verbose=False)["path"]
    assert len(onnx.load(path).graph.input) == 1
    assert verify(path, "onnx", model, inputs=[iris_like * 3 + 5])["passed"]


def test_torch_saved_model_goes_through_tensorflow(tmp_path, small_model, iris_like):
    if backend() != "torch":
        pytest.skip("torch backend only")
    result = export_model(small_model, str(tmp_path / "model"), verbose=False)
    assert result["backend"] == "torch" and result["exported_on_backend"] == "tensorflow"
    assert verify(str(tmp_path / "model"), None, small_model, inputs=[iris_like])["passed"]
    assert os.listdir(tmp_path) == ["model"]


def test_unbuilt_model_is_refused(tmp_path):
    import keras

    with pytest.raises(InvalidModelError):
        export_model(keras.Sequential([keras.layers.Dense(2)]), str(tmp_path / "m.onnx"),
                     format="onnx")


def test_failure_leaves_previous_artifact_intact(tmp_path, small_model):
    import keras

    format = backend_formats()[0]
    path = tmp_path / artifact_name(format)
    export_model(small_model, str(path), format=format, verbose=False)
    before = sorted((p.relative_to(tmp_path), p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file())
    bad = [keras.InputSpec(shape=(None, 5), dtype="float32")]
    with pytest.raises(ExportFailedError) as info:
        export_model(small_model, str(path), format=format, input_signature=bad, overwrite=True)
    assert ".kerasexport-" not in str(info.value)
    after = sorted((p.relative_to(tmp_path), p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file())
    assert after == before


def test_existing_paths_are_protected(tmp_path, small_model):
    data = tmp_path / "data.onnx"  # a folder of the user's that happens to end so
    data.mkdir()
    (data / "keep.csv").write_text("1,2,3")
    with pytest.raises(ArtifactError):
        export_model(small_model, str(data), format="onnx")
    with pytest.raises(ArtifactError):
        export_model(small_model, str(data), format="onnx", overwrite=True)
    assert (data / "keep.csv").read_text() == "1,2,3"
    with pytest.raises(ArtifactError, match="is a file"):
        export_model(small_model, str(data / "keep.csv" / "m.onnx"), format="onnx")
    assert sorted(p.name for p in data.iterdir()) == ["keep.csv"]
    # A path without the format's ending is refused before anything runs.
    from kerasexport.artifact_formats import PathError

    with pytest.raises(PathError, match="ending in '.onnx'"):
        export_model(small_model, str(tmp_path / "model"), format="onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.onnx"]


def test_bridge_reports_final_path_in_output(tmp_path, small_model):
    format = backend_formats()[-1]
    path = str(tmp_path / artifact_name(format))
    result = bridge.call("export_model", {"model": small_model, "filepath": path,
                                          "format": format, "verbose": True})
    text = "\n".join(result["captured"]["output"])
    assert ".kerasexport-" not in text
    assert result["value"]["path"] == path


def test_verify_detects_a_different_model(tmp_path, small_model, iris_like):
    import keras

    path = export_model(small_model, str(tmp_path / "m.onnx"), format="onnx", verbose=False)["path"]
    keras.utils.set_random_seed(2)
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    with pytest.raises(MismatchError) as info:
        verify(path, "onnx", other, inputs=[iris_like])
    assert info.value.fields["max_abs_diff"] > 1e-5


def test_missing_folders_are_made_and_removed_on_failure(tmp_path, small_model):
    """As Keras' own SavedModel export, the folders above the artifact are
    created; when the export fails, the ones it created go again."""
    from kerasexport.errors import KerasExportError

    format = backend_formats()[0]
    path = tmp_path / "path" / "to" / artifact_name(format)
    export_model(small_model, str(path), format=format, verbose=False)
    assert path.exists()
    with pytest.raises(KerasExportError):
        export_model(small_model, str(tmp_path / "new" / "deeper" / "m.onnx"), format="onnx",
                     verbose=False, opset_version="x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["path"]
