"""Export to ONNX, and where an ONNX artifact's weights live on disk."""

import os

from kerasexport import dependencies
from kerasexport import onnx_file
from kerasexport import signatures
from kerasexport.errors import ArtifactError

FORMAT = "onnx"

# One protobuf message, so one self-contained ONNX file, holds at most 2 GB
# (onnx.checker.MAXIMUM_PROTOBUF).
SINGLE_FILE_LIMIT = 2**31 - 1


def export(model, filepath, backend, verbose=None, input_signature=None,
           model_names=True, finish=None, external_data=None, **kwargs):
    """Keras' ONNX export, then every change kerasexport makes to the graph
    (``finish`` adds the caller's), made to the graph alone: the weights are
    copied once, from where the exporter wrote them to where they go, and
    never pass through Python (see ``onnx_file``).

    ``external_data``: ``None`` writes one self-contained file when it fits
    in protobuf's 2 GB, else the weights go to ``<file>.data`` beside it;
    ``True`` always puts them there, ``False`` never does.
    """
    dependencies.require_for_export(backend, FORMAT)
    model.export(filepath, format=FORMAT, verbose=verbose,
                 input_signature=input_signature, **kwargs)
    graph_model = onnx_file.read_graph(filepath)
    external_data = _resolve_layout(filepath, graph_model, external_data)
    if backend == "tensorflow":
        embed_captured_constants(graph_model, model, input_signature)
    if model_names:
        structure = input_signature or signatures.model_input_structure(model)
        rename_graph_io(graph_model, inputs=signatures.input_names(model, structure),
                        outputs=None, model=model)
    if finish is not None:
        finish(graph_model)
    onnx_file.write(graph_model, filepath, external_data)


def companion_files(path):
    """The files beside the ONNX file ``path`` that belong to it: its
    ``.data`` file, when the graph refers to it. Nothing else, so that
    replacing an artifact never touches another file."""
    companion = onnx_file.data_file(path)
    if not os.path.isfile(companion):
        return []
    graph_model = onnx_file.read_graph(path)
    named = os.path.basename(companion) in onnx_file.weight_files(graph_model, path)
    return [companion] if named else []


def _resolve_layout(filepath, graph_model, external_data):
    """Whether the weights go beside the file: ``external_data``, or for
    ``None``, whether one file would pass protobuf's limit, which makes
    ``False`` an error."""
    folder = os.path.dirname(filepath)
    size = os.path.getsize(filepath) + sum(
        os.path.getsize(os.path.join(folder, name))
        for name in onnx_file.weight_files(graph_model, filepath))
    if external_data is None:
        return size > SINGLE_FILE_LIMIT
    if not external_data and size > SINGLE_FILE_LIMIT:
        raise ArtifactError(
            f"The model is too large for one ONNX file ({size / 2**30:.1f} GB; protobuf's "
            "limit is 2 GB).",
            hint="Pass `external_data = TRUE` (or leave it NULL) to keep the weights in a "
            "`.data` file beside the `.onnx` file.")
    return external_data


def _tf_input_signature(model, input_signature):
    from keras import tree
    from keras.src.export.export_utils import get_input_signature
    from keras.src.export.export_utils import make_tf_tensor_spec

    if input_signature is None:
        input_signature = get_input_signature(model)
    return tree.map_structure(make_tf_tensor_spec, input_signature)


def embed_captured_constants(graph_model, model, input_signature=None):
    """Make the ONNX graph standalone when tf2onnx left captured tensors as
    graph inputs.

    A traced TensorFlow function captures the tensors it reads from outside.
    Variables become constants, but tf2onnx turns captured plain tensors (the
    mean and variance of an adapted Normalization layer, for one) into extra
    graph *inputs*, so onnxruntime would demand them at every call. We trace
    the same function Keras exported, take those tensors' values, and move
    them into the graph as initializers. Returns the names moved.
    """
    import onnx
    from keras import tree
    from keras.src.export.onnx import get_concrete_fn

    signature = _tf_input_signature(model, input_signature)
    if len(graph_model.graph.input) <= len(tree.flatten(signature)):
        return []
    concrete = get_concrete_fn(model, signature).get_concrete_function(*signature)
    captured = {
        placeholder.name: value
        for placeholder, value in zip(concrete.graph.internal_captures, concrete.captured_inputs)
        if value.dtype.name != "resource"
    }
    moved = []
    for graph_input in list(graph_model.graph.input):
        if graph_input.name in captured:
            value = captured[graph_input.name].numpy()
            graph_model.graph.initializer.append(
                onnx.numpy_helper.from_array(value, name=graph_input.name))
            graph_model.graph.input.remove(graph_input)
            moved.append(graph_input.name)
    return moved


def rename_graph_io(graph_model, inputs, outputs=None, model=None):
    """Give the graph's inputs and outputs the model's names (by position).

    Exporters name them after traced tensors (``keras_tensor``, ``output_0``,
    ``23``); clients want the model's input names and output layer names.
    A name already used inside the graph is left alone rather than clash.
    """
    graph = graph_model.graph
    if outputs is None:
        outputs = signatures.output_names(model, len(graph.output))
    mapping = {}
    for values, names in ((graph.input, inputs), (graph.output, outputs)):
        if len(values) != len(names):
            continue
        for value, name in zip(values, names):
            if value.name != name:
                mapping[value.name] = name
    used = {n for node in graph.node for n in list(node.input) + list(node.output)}
    used |= {i.name for i in graph.initializer}
    mapping = {old: new for old, new in mapping.items() if new not in used or new == old}
    if not mapping:
        return {}
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        value.name = mapping.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
    return mapping
