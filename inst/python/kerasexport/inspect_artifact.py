"""Describe an artifact the way ``saved_model_cli show`` does, for ONNX too:
format, endpoints, each input and output with name, dtype and shape, size on
disk, and what produced it."""

import os

from kerasexport import metadata
from kerasexport.errors import ArtifactError


def detect_format(path):
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return "tf_saved_model"
        raise ArtifactError(f"{path!r} is a folder without a saved_model.pb: not a SavedModel.",
                            hint="Pass `format` if it is an artifact of another kind.", path=path)
    from kerasexport import onnx_file

    if os.path.isfile(path) and onnx_file.is_onnx(path):
        return "onnx"
    raise ArtifactError(f"{path!r} is not a SavedModel folder or an ONNX file.",
                        hint="Pass `format` if it is an artifact of another kind.", path=path)


def resolve_format(path, format=None):
    """``format``, checked against what ``path`` is, or else the format
    ``path`` holds."""
    if format is None:
        return detect_format(path)
    hint = "Leave `format` NULL to tell the format from the artifact."
    if format == "onnx":
        from kerasexport import onnx_file

        if os.path.isdir(path):
            raise ArtifactError(f"{path!r} is a folder; an 'onnx' artifact is a file.",
                                hint=hint, path=path, format=format)
        if not onnx_file.is_onnx(path):
            raise ArtifactError(f"{path!r} is not an ONNX model.", hint=hint, path=path,
                                format=format)
    elif format == "tf_saved_model":
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            kind = "folder without a saved_model.pb" if os.path.isdir(path) else "file"
            raise ArtifactError(f"{path!r} is a {kind}; a 'tf_saved_model' artifact is a "
                                "folder with a saved_model.pb.", hint=hint, path=path,
                                format=format)
    return format


def artifact_files(path, format):
    """``path`` and the files beside it that belong to the artifact: an ONNX
    graph's ``.data`` file of external weights."""
    if format == "onnx" and os.path.isfile(path):
        from kerasexport import onnx

        return [path, *onnx.companion_files(path)]
    return [path]


def size_on_disk(files):
    return sum(os.path.getsize(f) if os.path.isfile(f) else
               sum(os.path.getsize(os.path.join(root, name))
                   for root, _, names in os.walk(f) for name in names)
               for f in files)


def _onnx_value(value):
    import onnx

    tensor = value.type.tensor_type
    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
    except Exception:
        dtype = str(tensor.elem_type)
    shape = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    return {"name": value.name, "dtype": dtype, "shape": shape}


def _describe_onnx(path):
    from kerasexport import onnx_file

    graph_model = onnx_file.read_graph(path)
    initializers = {i.name for i in graph_model.graph.initializer}
    return {
        "endpoints": [{
            "name": "graph",
            "inputs": [_onnx_value(v) for v in graph_model.graph.input if v.name not in initializers],
            "outputs": [_onnx_value(v) for v in graph_model.graph.output],
        }],
        "producer": " ".join(p for p in (graph_model.producer_name, graph_model.producer_version) if p and p != "None"),
        "opset": [{"domain": o.domain or "ai.onnx", "version": o.version} for o in graph_model.opset_import],
    }


def _describe_saved_model(path):
    # Reading the protocol buffer needs TensorFlow's message classes, not a
    # load of the model.
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.framework import dtypes

    message = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as handle:
        message.ParseFromString(handle.read())
    meta_graph = message.meta_graphs[0]

    def tensor(name, info):
        shape = None if info.tensor_shape.unknown_rank else [
            None if d.size < 0 else d.size for d in info.tensor_shape.dim]
        return {"name": name, "dtype": dtypes.as_dtype(info.dtype).name, "shape": shape}

    endpoints = []
    for key in sorted(meta_graph.signature_def, key=lambda k: (k != "serving_default", k)):
        if key.startswith("__"):
            continue
        signature = meta_graph.signature_def[key]
        endpoints.append({
            "name": key,
            "inputs": [tensor(n, signature.inputs[n]) for n in sorted(signature.inputs)],
            "outputs": [tensor(n, signature.outputs[n]) for n in sorted(signature.outputs)],
        })
    return {"endpoints": endpoints, "producer": "TensorFlow " + meta_graph.meta_info_def.tensorflow_version,
            "opset": []}


def describe(path, format=None):
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.exists(path):
        raise ArtifactError(f"No artifact at {path!r}.", path=path)
    format = resolve_format(path, format)
    if format == "onnx":
        info = _describe_onnx(path)
    elif format == "tf_saved_model":
        info = _describe_saved_model(path)
    else:
        raise ArtifactError(f"kerasexport cannot describe {format!r} artifacts.", format=format)
    record = metadata.read(path, format)
    if record:
        # Endpoint inputs of a named ONNX graph follow the model's order.
        order = {n: i for i, n in enumerate(record.get("inputs", []))}
        for endpoint in info["endpoints"]:
            if endpoint["name"] == "serving_default" and order:
                endpoint["inputs"].sort(key=lambda v: order.get(v["name"], len(order)))
                outputs = {n: i for i, n in enumerate(record.get("outputs", []))}
                endpoint["outputs"].sort(key=lambda v: outputs.get(v["name"], len(outputs)))
    files = artifact_files(path, format)
    info.update(path=path, format=format, files=[os.path.basename(f) for f in files],
                size_bytes=size_on_disk(files), kerasexport=record)
    return info
