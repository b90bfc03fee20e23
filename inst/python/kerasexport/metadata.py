"""What kerasexport records inside each artifact: who made it and how its
inputs and outputs are named.

The record travels with the artifact in a place both formats keep and their
servers ignore: ONNX's ``metadata_props`` (key ``kerasexport``), and for a
SavedModel the file ``assets.extra/kerasexport.json`` (TF-Serving reads only
warm-up data from ``assets.extra``). It holds no local path and no user name.
"""

import datetime
import functools
import json
import os

KEY = "kerasexport"
SAVED_MODEL_FILE = os.path.join("assets.extra", "kerasexport.json")


@functools.lru_cache(maxsize=None)
def package_version():
    try:
        from importlib.metadata import version

        return version("kerasexport")
    except Exception:
        return _r_package_version()


def _r_package_version():
    description = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "DESCRIPTION")
    try:
        with open(description, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def make_record(model, format, backend, input_names, output_names, model_names):
    import keras

    return {
        "producer": "kerasexport",
        "kerasexport_version": package_version(),
        "keras_version": keras.__version__,
        "backend": backend,
        "format": format,
        "model_name": getattr(model, "name", None),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model_names": bool(model_names),
        "inputs": list(input_names),
        "outputs": list(output_names),
    }


def write(artifact, format, record):
    """Record ``record`` in an artifact: a SavedModel's folder, or an
    in-memory ONNX ModelProto (saved by the caller)."""
    text = json.dumps(record, indent=2, sort_keys=True)
    if format == "tf_saved_model":
        os.makedirs(os.path.join(artifact, "assets.extra"), exist_ok=True)
        with open(os.path.join(artifact, SAVED_MODEL_FILE), "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    elif format == "onnx":
        graph_model = artifact
        kept = [p for p in graph_model.metadata_props if p.key != KEY]
        del graph_model.metadata_props[:]
        graph_model.metadata_props.extend(kept)
        graph_model.metadata_props.add(key=KEY, value=text)


def read(path, format):
    """The record kerasexport wrote, or None (an artifact made otherwise)."""
    try:
        if format == "tf_saved_model":
            with open(os.path.join(path, SAVED_MODEL_FILE), encoding="utf-8") as handle:
                return json.load(handle)
        if format == "onnx":
            from kerasexport import onnx_file

            graph_model = onnx_file.read_graph(path)
            for prop in graph_model.metadata_props:
                if prop.key == KEY:
                    return json.loads(prop.value)
    except (OSError, ValueError):
        return None
    return None
