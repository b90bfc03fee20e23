"""Where an ONNX artifact's weights go: inside the file, or in `<file>.data`
beside it, and how replacing such an artifact treats the files around it."""

import os

import numpy as np
import pytest

from kerasexport import export_model
from kerasexport import onnx as onnx_format
from kerasexport import verify
from kerasexport.errors import ArtifactError
from kerasexport.errors import UnknownArgumentError
from kerasexport.inspect_artifact import describe


@pytest.fixture
def wide_model():
    """Weights of ~2 MB, with one tensor over 1 MB: Keras' JAX exporter
    writes that tensor to a `.data` file."""
    import keras

    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((4,), name="features"), keras.layers.Dense(512),
                              keras.layers.Dense(640), keras.layers.Dense(3)])
    model(np.zeros((1, 4), dtype="float32"))
    return model


def weight_bytes(model):
    return sum(v.numpy().nbytes for v in model.weights)


@pytest.mark.parametrize("external_data", [None, False, True])
def test_layouts(tmp_path, wide_model, external_data):
    path = tmp_path / "model.onnx"
    export_model(wide_model, str(path), format="onnx", verbose=False,
                 external_data=external_data)
    expected = ["model.onnx", "model.onnx.data"] if external_data else ["model.onnx"]
    assert sorted(os.listdir(tmp_path)) == expected
    if external_data:
        # The weights are in the .data file, the graph file is small.
        assert os.path.getsize(path) < 0.1 * weight_bytes(wide_model)
    size = describe(str(path))["size_bytes"]
    assert 0.95 * weight_bytes(wide_model) <= size <= 1.05 * weight_bytes(wide_model) + 200_000
    x = np.random.default_rng(3).random((5, 4), dtype=np.float32)
    assert verify(str(path), "onnx", wide_model, inputs=[x])["passed"]


def test_past_the_single_file_limit_the_weights_go_beside(tmp_path, wide_model, monkeypatch):
    # A 2 GB model is too slow for a test; lowering the limit exercises the
    # same decision on real files.
    monkeypatch.setattr(onnx_format, "SINGLE_FILE_LIMIT", 1_000_000)
    path = tmp_path / "model.onnx"
    export_model(wide_model, str(path), format="onnx", verbose=False)
    assert sorted(os.listdir(tmp_path)) == ["model.onnx", "model.onnx.data"]
    assert verify(str(path), "onnx", wide_model)["passed"]

    with pytest.raises(ArtifactError, match="too large for one ONNX file") as error:
        export_model(wide_model, str(tmp_path / "single.onnx"), format="onnx", verbose=False,
                     external_data=False)
    assert "external_data = TRUE" in error.value.hint
    assert sorted(os.listdir(tmp_path)) == ["model.onnx", "model.onnx.data"]


def test_replacing_moves_the_data_file_with_the_artifact(tmp_path, wide_model, small_model):
    path = tmp_path / "model.onnx"
    export_model(wide_model, str(path), format="onnx", verbose=False, external_data=True)
    export_model(small_model, str(path), format="onnx", verbose=False, overwrite=True)
    # The old artifact's weights went with it.
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]
    assert verify(str(path), "onnx", small_model)["passed"]
    export_model(wide_model, str(path), format="onnx", verbose=False, overwrite=True,
                 external_data=True)
    assert sorted(os.listdir(tmp_path)) == ["model.onnx", "model.onnx.data"]
    assert verify(str(path), "onnx", wide_model)["passed"]


def test_a_data_file_that_is_not_the_artifacts_is_never_replaced(tmp_path, wide_model,
                                                                  small_model):
    path = tmp_path / "model.onnx"
    export_model(small_model, str(path), format="onnx", verbose=False)
    before = path.read_bytes()
    (tmp_path / "model.onnx.data").write_text("the user's own file")
    with pytest.raises(ArtifactError, match="not part of an artifact"):
        export_model(wide_model, str(path), format="onnx", verbose=False, overwrite=True,
                     external_data=True)
    assert sorted(os.listdir(tmp_path)) == ["model.onnx", "model.onnx.data"]
    assert (tmp_path / "model.onnx.data").read_text() == "the user's own file"
    assert path.read_bytes() == before
    # A single-file artifact does not need the name: the export goes ahead.
    export_model(wide_model, str(path), format="onnx", verbose=False, overwrite=True)
    assert (tmp_path / "model.onnx.data").read_text() == "the user's own file"
    assert verify(str(path), "onnx", wide_model)["passed"]


def test_only_files_beside_the_artifact_are_its_companions(tmp_path, wide_model):
    import onnx

    path = tmp_path / "model.onnx"
    export_model(wide_model, str(path), format="onnx", verbose=False, external_data=True)
    graph_model = onnx.load(str(path), load_external_data=False)
    for tensor in graph_model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../elsewhere.data"
    onnx.save(graph_model, str(path))
    assert onnx_format.companion_files(str(path)) == []


def test_external_data_is_for_onnx_only(tmp_path, small_model):
    with pytest.raises(UnknownArgumentError, match="external_data"):
        export_model(small_model, str(tmp_path / "model"), format="tf_saved_model",
                     verbose=False, external_data=True)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("old_external, new_external", [(True, False), (False, True)])
def test_a_failed_move_puts_the_old_artifact_back(tmp_path, wide_model, small_model, monkeypatch,
                                                   old_external, new_external):
    path = tmp_path / "model.onnx"
    old_model, new_model = (wide_model, small_model) if old_external else (small_model, wide_model)
    export_model(old_model, str(path), format="onnx", verbose=False, external_data=old_external)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real_rename = os.rename

    def rename_failing_on_the_new_graph(source, target):
        # The new graph file is moved last, after any .data file of its own.
        if os.fspath(target) == str(path) and "previous" not in os.fspath(source):
            raise OSError("no space left on device (injected)")
        return real_rename(source, target)

    monkeypatch.setattr(os, "rename", rename_failing_on_the_new_graph)
    with pytest.raises(ArtifactError, match="earlier artifact there is unchanged"):
        export_model(new_model, str(path), format="onnx", verbose=False, overwrite=True,
                     external_data=new_external)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert verify(str(path), "onnx", old_model)["passed"]
