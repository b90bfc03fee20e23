"""ONNX: one .onnx file (with a .data file beside it for large weights), run
by onnxruntime; everything kerasexport knows about it (see
``artifact_formats``). ``onnx_file`` reads and writes the file itself."""

import json
import os

import numpy as np

from kerasexport import dependencies
from kerasexport import keras_private
from kerasexport import onnx_file
from kerasexport import signatures
from kerasexport.errors import ArtifactError

FORMAT = "onnx"
SUFFIX = ".onnx"
VERSION_ENTRY = "model.onnx"
NATIVE_BACKENDS = ("tensorflow", "jax", "torch")
EXPORT_NEEDS = {
    "tensorflow": [("tf2onnx", "tf2onnx"), ("onnx", "onnx")],
    "jax": [("jax2onnx", "jax2onnx"), ("onnx", "onnx")],
    "torch": [("onnx", "onnx"), ("onnxscript", "onnxscript")],
}
RUNTIME_NEEDS = [("onnxruntime", "onnxruntime")]
NAMED = True
OWN_KWARGS = ("external_data",)  # kerasexport's, not Keras'
RECORD_KEY = "kerasexport"  # in the graph's metadata_props

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
    write_graph(model, filepath, backend, verbose, input_signature, **kwargs)
    graph_model = onnx_file.read_graph(filepath)
    external_data = _resolve_layout(filepath, graph_model, external_data)
    if backend == "tensorflow":
        embed_captured_constants(graph_model, model, input_signature)
    if backend == "jax":
        narrow_max_pools(graph_model)
    if model_names:
        structure = input_signature or signatures.model_input_structure(model)
        rename_graph_io(graph_model, inputs=signatures.input_names(model, structure),
                        outputs=None, model=model)
    if finish is not None:
        finish(graph_model)
    onnx_file.write(graph_model, filepath, external_data)


def write_graph(model, filepath, backend, verbose, input_signature, **kwargs):
    """The ONNX file as the backend's exporter writes it, by the route that
    works for the model:

    * TensorFlow, a model with lookup tables (StringLookup, IntegerLookup):
      through a SavedModel, which tf2onnx reads with the tables'
      contents (from the traced function alone it cannot find them, and
      writes an invalid graph);
    * torch, when Keras' exporter (TorchScript tracing, for inputs with an
      axis of any length) fails, as it does on LayerNormalization over a
      free batch: torch.export's exporter (dynamo) with those axes free;
    * otherwise Keras' own export.
    """
    from kerasexport import limits

    if backend == "tensorflow" and limits.lookup_layers(model):
        return _write_through_saved_model(model, filepath, verbose, input_signature, **kwargs)
    try:
        model.export(filepath, format=FORMAT, verbose=verbose,
                     input_signature=input_signature, **kwargs)
    except Exception:
        if backend != "torch":
            raise
        _write_with_dynamo(model, filepath, input_signature, **kwargs)


def _write_through_saved_model(model, filepath, verbose, input_signature, opset_version=None,
                               **kwargs):
    import tempfile

    from keras.src.export.tf2onnx_lib import patch_tf2onnx
    import tensorflow as tf
    from tf2onnx import convert
    from tf2onnx import tf_loader

    from kerasexport import saved_model

    patch_tf2onnx()  # as Keras does: tf2onnx 1.17 predates NumPy 2
    with tempfile.TemporaryDirectory(dir=os.path.dirname(filepath)) as work:
        folder = os.path.join(work, "saved_model")
        saved_model.write_archive(model, folder, False, input_signature, model_names=False,
                                  **kwargs)
        graph_def, inputs, outputs, tables, renames = tf_loader.from_saved_model(
            folder, None, None, None, ["serve"], None, False,
            return_initialized_tables=True, return_tensors_to_rename=True)
        with tf.device("/cpu:0"):
            convert._convert_common(graph_def, name=os.path.basename(filepath),
                                    continue_on_error=False, opset=opset_version,
                                    input_names=inputs, output_names=outputs,
                                    tensors_to_rename=renames, initialized_tables=tables,
                                    output_path=filepath)


def _write_with_dynamo(model, filepath, input_signature, opset_version=None, **kwargs):
    import torch
    from keras import tree

    signature = input_signature or keras_private.input_signature(model)
    flat = tree.flatten(signature)

    class FlatInputs(torch.nn.Module):
        def __init__(self, wrapped):
            super().__init__()
            self.wrapped = wrapped

        def forward(self, *args):
            packed = tree.pack_sequence_as(signature, list(args))
            return self.wrapped(packed[0] if len(packed) == 1 else packed, training=False)

    from kerasexport.verify import sample_inputs

    # Trace at sizes other than 1, which torch.export takes for a constant.
    sample = tuple(torch.from_numpy(np.asarray(a))
                   for a in sample_inputs(model, 2, signature=signature, free_size=3))
    dynamic = (tuple({axis: torch.export.Dim.AUTO for axis, size in enumerate(spec.shape)
                      if size is None} for spec in flat),)
    program = torch.onnx.export(
        FlatInputs(model).eval(), sample, dynamic_shapes=dynamic, dynamo=True, verbose=False,
        opset_version=opset_version,
        input_names=[getattr(spec, "name", None) or f"input_{i}" for i, spec in enumerate(flat)])
    program.save(filepath)


def narrow_max_pools(graph_model):
    """jax2onnx 0.17 writes a 2D or 3D max pooling over channels-last data
    as a MaxPool over 4 or 5 spatial axes (batch and channels among them,
    with a window of 1), between two Unsqueezes and a Squeeze; onnxruntime
    pools over at most 3 ("Unsupported pooling size"). Each such pool
    becomes Transpose to channels-first, a MaxPool over the true spatial
    axes, and Transpose back: the same values. Returns how many changed."""
    import onnx

    graph = graph_model.graph
    producers = {out: node for node in graph.node for out in node.output}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    changed = 0
    for node in list(graph.node):
        if node.op_type != "MaxPool":
            continue
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        kernel = list(attributes.get("kernel_shape", []))
        rank = len(kernel)
        strides = list(attributes.get("strides", [1] * rank))
        pads = list(attributes.get("pads", [0] * 2 * rank))
        dilations = list(attributes.get("dilations", [1] * rank))
        inner = producers.get(node.input[0])
        outer = producers.get(inner.input[0]) if inner is not None and inner.op_type == "Unsqueeze" else None
        after = consumers.get(node.output[0], [])
        if (rank < 4 or outer is None or outer.op_type != "Unsqueeze" or len(after) != 1
                or after[0].op_type != "Squeeze"
                or len(consumers.get(outer.output[0], [])) != 1
                or len(consumers.get(inner.output[0], [])) != 1
                or any(v[i] != 1 for v in (kernel, strides, dilations) for i in (0, rank - 1))
                or pads[0] or pads[rank - 1] or pads[rank] or pads[2 * rank - 1]):
            continue
        squeeze = after[0]
        source, result = outer.input[0], squeeze.output[0]
        spatial = range(1, rank - 1)
        first, back = f"{node.name}_channels_first", f"{node.name}_pooled"
        new_attributes = {"kernel_shape": [kernel[i] for i in spatial],
                          "strides": [strides[i] for i in spatial]}
        if any(pads):
            new_attributes["pads"] = [pads[i] for i in spatial] + [pads[rank + i] for i in spatial]
        if any(d != 1 for d in dilations):
            new_attributes["dilations"] = [dilations[i] for i in spatial]
        replacement = [
            onnx.helper.make_node("Transpose", [source], [first], name=f"{node.name}_to_nc",
                                  perm=[0, rank - 1, *spatial]),
            onnx.helper.make_node("MaxPool", [first], [back], name=node.name, **new_attributes),
            onnx.helper.make_node("Transpose", [back], [result], name=f"{node.name}_to_nhwc",
                                  perm=[0, *range(2, rank), 1]),
        ]
        # Where the first Unsqueeze stood, the source exists and nothing
        # reads the result yet: the replacement goes there.
        position = list(graph.node).index(outer)
        for old in (outer, inner, node, squeeze):
            graph.node.remove(old)
        for offset, new in enumerate(replacement):
            graph.node.insert(position + offset, new)
        changed += 1
    return changed


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

    if input_signature is None:
        input_signature = keras_private.input_signature(model)
    return tree.map_structure(keras_private.tf_tensor_spec, input_signature)


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

    signature = _tf_input_signature(model, input_signature)
    if len(graph_model.graph.input) <= len(tree.flatten(signature)):
        return []
    concrete = keras_private.tf_function(model, signature).get_concrete_function(*signature)
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


# --- on disk ---------------------------------------------------------------------

def is_artifact(path):
    return os.path.isfile(path) and onnx_file.is_onnx(path)


def files(path):
    return [path, *companion_files(path)] if os.path.isfile(path) else [path]


def _value(value):
    import onnx

    tensor = value.type.tensor_type
    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
    except Exception:
        dtype = str(tensor.elem_type)
    shape = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    return {"name": value.name, "dtype": dtype, "shape": shape}


def _read_checked(path):
    """The graph, after checking that it parses and that the weight files it
    names are beside it: a classed error naming what is damaged otherwise."""
    from kerasexport.errors import DamagedArtifactError
    from kerasexport.errors import reason

    try:
        graph_model = onnx_file.read_graph(path)
    except Exception as error:
        raise DamagedArtifactError.at(
            path, FORMAT, f"it does not parse as an ONNX model ({reason(error)})") from None
    folder = os.path.dirname(path)
    missing = [name for name in onnx_file.weight_files(graph_model, path)
               if not os.path.isfile(os.path.join(folder, name))]
    if missing:
        raise DamagedArtifactError.at(
            path, FORMAT, f"it keeps its weights in {', '.join(missing)}, which is not beside it",
            hint="Keep the .onnx file and its .data file together in one folder.", damaged=missing)
    return graph_model


def describe(path):
    """The graph's inputs and outputs, read without its weights. An ONNX
    graph has one endpoint; it is called "serving_default", the signature
    TF-Serving clients ask for."""
    graph_model = _read_checked(path)
    initializers = {i.name for i in graph_model.graph.initializer}
    return {
        "endpoints": [{
            "name": "serving_default",
            "inputs": [_value(v) for v in graph_model.graph.input if v.name not in initializers],
            "outputs": [_value(v) for v in graph_model.graph.output],
        }],
        "producer": " ".join(p for p in (graph_model.producer_name, graph_model.producer_version)
                             if p and p != "None"),
        "opset": [{"domain": o.domain or "ai.onnx", "version": o.version}
                  for o in graph_model.opset_import],
    }


def write_record(graph_model, record):
    """Record ``record`` in an in-memory graph (saved by the caller)."""
    kept = [p for p in graph_model.metadata_props if p.key != RECORD_KEY]
    del graph_model.metadata_props[:]
    graph_model.metadata_props.extend(kept)
    graph_model.metadata_props.add(key=RECORD_KEY, value=json.dumps(record, indent=2, sort_keys=True))


def read_record(path):
    try:
        for prop in onnx_file.read_graph(path).metadata_props:
            if prop.key == RECORD_KEY:
                return json.loads(prop.value)
    except (OSError, ValueError):
        return None
    return None


def scrub(graph_model, finder):
    """Clean an in-memory graph: doc strings dropped (only ever debugging
    information; the torch exporter with verbose = TRUE writes source paths
    there), local paths in names, attributes and metadata replaced. Returns
    what held local information."""
    import onnx

    findings = []

    def note(location, kinds):
        for kind in kinds:
            findings.append({"location": location, "kind": kind})

    def visit_graph(graph, where):
        if graph.doc_string:
            note(f"{where}.doc_string", finder.kinds(graph.doc_string, prose=True) or [])
            graph.doc_string = ""
        for i, node in enumerate(graph.node):
            label = f"{where}.node[{i}]"
            if node.doc_string:
                note(f"{label}.doc_string", finder.kinds(node.doc_string, prose=True))
                node.doc_string = ""
            kinds = finder.kinds(node.name)
            if kinds:
                note(f"{label}.name", kinds)
                node.name = finder.clean(node.name)
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.STRING:
                    text = attribute.s.decode("utf-8", "replace")
                    kinds = finder.kinds(text, prose=True)
                    if kinds:
                        note(f"{label}.attribute[{attribute.name}]", kinds)
                        attribute.s = finder.clean(text).encode("utf-8")
                elif attribute.type == onnx.AttributeProto.GRAPH:
                    visit_graph(attribute.g, f"{label}.{attribute.name}")
                elif attribute.type == onnx.AttributeProto.GRAPHS:
                    for j, subgraph in enumerate(attribute.graphs):
                        visit_graph(subgraph, f"{label}.{attribute.name}[{j}]")

    if graph_model.doc_string:
        note("model.doc_string", finder.kinds(graph_model.doc_string, prose=True))
        graph_model.doc_string = ""
    visit_graph(graph_model.graph, "graph")
    for function in graph_model.functions:
        visit_graph(function, f"function[{function.name}]")
    for prop in graph_model.metadata_props:
        kinds = finder.kinds(prop.value, prose=True)
        if kinds:
            note(f"metadata_props[{prop.key}]", kinds)
            prop.value = finder.clean(prop.value)
    return [f for f in findings if f["kind"]]


def copy_to(path, target):
    """A copy of the artifact at ``target``; a .data file keeps its name,
    which the graph refers to."""
    import shutil

    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy2(path, target)
    for companion in companion_files(path):
        shutil.copy2(companion, os.path.join(os.path.dirname(target), os.path.basename(companion)))


# --- running it ------------------------------------------------------------------

class Runner:
    """An onnxruntime session on the CPU; its one endpoint is
    "serving_default". Its CPU provider computes in float32 only."""

    def __init__(self, path, info, precision="float32"):
        (ort,) = dependencies.require_for_runtime(FORMAT)
        options = ort.SessionOptions()
        # Its warnings (an unused initializer, say) are about the graph's
        # tidiness, printed in colour on the console: not the user's business.
        options.log_severity_level = 3
        self._session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.endpoints = {e["name"]: e for e in info["endpoints"]}
        self.default = "serving_default"
        self._outputs = [o.name for o in self._session.get_outputs()]

    def run(self, name, feed):
        return dict(zip(self._outputs, self._session.run(None, feed)))
