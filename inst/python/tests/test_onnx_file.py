"""Reading an ONNX graph without its weights, and writing it back with them,
on ONNX files of every layout, checked against onnx's own load and against
onnxruntime."""

import os

import numpy as np
import pytest

from kerasexport import onnx_file


def mlp_graph():
    """x -> MatMul(w1) -> Add(b1) -> Add(a Constant node) -> Relu ->
    MatMul(w2) -> Mul(scale): tensors of 1.28 MB, 480 KB, 160 KB (an
    initializer and a node's constant) and 12 bytes."""
    import onnx
    from onnx import helper
    from onnx import numpy_helper

    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((8, 40_000)).astype("float32")
    b1 = rng.standard_normal(40_000).astype("float32")
    w2 = rng.standard_normal((40_000, 3)).astype("float32")
    scale = rng.standard_normal(3).astype("float32")
    shift = numpy_helper.from_array(rng.standard_normal(40_000).astype("float32"), "shift")
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h1"], doc_string="first layer"),
        helper.make_node("Add", ["h1", "b1"], ["h2"]),
        helper.make_node("Constant", [], ["shift_out"], value=shift),
        helper.make_node("Add", ["h2", "shift_out"], ["h3"]),
        helper.make_node("Relu", ["h3"], ["h4"]),
        helper.make_node("MatMul", ["h4", "w2"], ["h5"]),
        helper.make_node("Mul", ["h5", "scale"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 8])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, 3])],
        initializer=[numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"),
                     numpy_helper.from_array(w2, "w2"),
                     numpy_helper.from_array(scale, "scale")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="test")
    model.ir_version = 8
    helper.set_model_props(model, {"note": "kept"})
    return model


def save_in_layout(model, path, layout):
    import onnx

    if layout == "single":
        onnx.save(model, str(path))
    elif layout == "data_file":  # as Keras' JAX exporter: tensors over 1 MB beside it
        onnx.save_model(model, str(path), save_as_external_data=True,
                        all_tensors_to_one_file=True, location=path.name + ".data",
                        size_threshold=1 << 20)
    elif layout == "data_file_all":  # every tensor over 1 KB, Constant nodes' too
        onnx.save_model(model, str(path), save_as_external_data=True,
                        all_tensors_to_one_file=True, location=path.name + ".data",
                        size_threshold=1024, convert_attribute=True)


def tensors(path):
    """Every initializer's values, by name, read by onnx itself."""
    import onnx
    from onnx import numpy_helper

    loaded = onnx.load(str(path))
    return {t.name: numpy_helper.to_array(t) for t in loaded.graph.initializer}


def run(path, x):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


LAYOUTS = ["single", "data_file", "data_file_all"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_graph_is_read_without_its_weights(tmp_path, layout):
    import onnx

    path = tmp_path / "model.onnx"
    save_in_layout(mlp_graph(), path, layout)
    graph_model = onnx_file.read_graph(str(path))
    reference = onnx.load(str(path), load_external_data=False)
    # Everything but where the weights lie is as onnx reads it.
    assert graph_model.graph.node == reference.graph.node
    assert graph_model.graph.input == reference.graph.input
    assert graph_model.metadata_props == reference.metadata_props
    assert graph_model.opset_import == reference.opset_import
    assert [t.name for t in graph_model.graph.initializer] == ["w1", "b1", "w2", "scale"]
    # The initializers' bytes were not read into the message (a node's
    # constant is, as onnx.save_model() keeps it in the graph by default).
    assert graph_model.ByteSize() < 170_000
    # Where they lie is ONNX external data that onnx itself can follow.
    onnx.load_external_data_for_model(graph_model, str(tmp_path))
    from onnx import numpy_helper

    loaded = {t.name: numpy_helper.to_array(t) for t in graph_model.graph.initializer}
    for name, value in tensors(path).items():
        np.testing.assert_array_equal(loaded[name], value)


@pytest.fixture(params=["copy_file_range", "read_and_write"])
def copying(request, monkeypatch):
    """Both ways of copying bytes: in the kernel (Linux), and the reads and
    writes used where os.copy_file_range() is missing (macOS) or refused."""
    if request.param == "read_and_write":
        monkeypatch.setattr(onnx_file, "_COPY_FILE_RANGE", None)
    elif onnx_file._COPY_FILE_RANGE is None:
        pytest.skip("no os.copy_file_range() here")
    else:
        # The kernel's copy is the one taken, for the .data file too.
        def no_reads(*args):
            raise AssertionError("copied through Python")

        monkeypatch.setattr(os, "pread", no_reads)
    return request.param


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("external_data", [False, True])
def test_writing_back_gives_the_same_model_in_the_asked_layout(tmp_path, layout, external_data,
                                                               copying):
    path = tmp_path / "model.onnx"
    save_in_layout(mlp_graph(), path, layout)
    expected = tensors(path)
    x = np.random.default_rng(1).standard_normal((5, 8)).astype("float32")
    predicted = run(path, x)

    graph_model = onnx_file.read_graph(str(path))
    graph_model.graph.node[0].doc_string = ""  # a change to the graph, as an export makes
    onnx_file.write(graph_model, str(path), external_data)

    files = sorted(os.listdir(tmp_path))
    if external_data:
        assert files == ["model.onnx", "model.onnx.data"]
        assert os.path.getsize(path) < 170_000
    else:
        assert files == ["model.onnx"]
    actual = tensors(path)
    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        np.testing.assert_array_equal(actual[name], value)
    np.testing.assert_array_equal(run(path, x), predicted)
    import onnx

    onnx.checker.check_model(str(path))
    assert onnx.load(str(path), load_external_data=False).graph.node[0].doc_string == ""


def test_a_data_file_already_in_place_is_not_rewritten(tmp_path):
    path = tmp_path / "model.onnx"
    save_in_layout(mlp_graph(), path, "data_file_all")
    data = tmp_path / "model.onnx.data"
    before = (data.stat().st_ino, data.read_bytes())
    graph_model = onnx_file.read_graph(str(path))
    onnx_file.write(graph_model, str(path), external_data=True)
    assert (data.stat().st_ino, data.read_bytes()) == before


def test_a_written_file_is_readable_by_others(tmp_path):
    path = tmp_path / "model.onnx"
    save_in_layout(mlp_graph(), path, "single")
    onnx_file.write(onnx_file.read_graph(str(path)), str(path), external_data=False)
    # The same permissions as any file the user makes (umask), not a temporary file's 0600.
    assert path.stat().st_mode & 0o777 == 0o666 & ~current_umask()


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("content", [b"", b"the user's own notes\n", bytes(range(256)) * 4])
def test_a_file_that_is_not_onnx_is_refused(tmp_path, content):
    path = tmp_path / "notes.onnx"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not an ONNX model"):
        onnx_file.read_graph(str(path))


def test_weight_files_are_the_files_beside_it(tmp_path):
    path = tmp_path / "model.onnx"
    save_in_layout(mlp_graph(), path, "data_file")
    graph_model = onnx_file.read_graph(str(path))
    # The file itself holds some of the weights too, but is not "beside" it.
    assert onnx_file.weight_files(graph_model, str(path)) == ["model.onnx.data"]
    save_in_layout(mlp_graph(), path, "single")
    assert onnx_file.weight_files(onnx_file.read_graph(str(path)), str(path)) == []
