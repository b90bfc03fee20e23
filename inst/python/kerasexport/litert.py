"""LiteRT (formerly TensorFlow Lite): one .tflite flatbuffer, run with the
LiteRT interpreter; everything kerasexport knows about it (see
``artifact_formats``)."""

import os

from kerasexport import artifact_formats
from kerasexport import dependencies

FORMAT = "litert"
SUFFIX = ".tflite"
VERSION_ENTRY = "model.tflite"
# Keras writes LiteRT from TensorFlow, and from torch only through
# litert-torch with a fixed batch size; JAX and torch models go through
# TensorFlow (see ``crossing``), which keeps the batch axis dynamic.
NATIVE_BACKENDS = ("tensorflow",)
EXPORT_NEEDS = {"tensorflow": [("tensorflow", "tensorflow-cpu")]}
RUNTIME_NEEDS = [("ai_edge_litert", "ai-edge-litert")]
NAMED = False
OPEN_KWARGS = True  # LiteRT's converter judges the other arguments


def export(model, filepath, backend, verbose=None, input_signature=None, finish=None, **kwargs):
    dependencies.require_for_export(backend, FORMAT)
    model.export(filepath, format=FORMAT, verbose=verbose, input_signature=input_signature,
                 **kwargs)
    if finish is not None:
        finish(filepath)


# --- on disk ---------------------------------------------------------------------

def is_artifact(path):
    if not (os.path.isfile(path) and path.endswith(SUFFIX)):
        return False
    with open(path, "rb") as handle:
        return handle.read(8)[4:8] == b"TFL3"  # the flatbuffer's file identifier


def files(path):
    return [path]


def _interpreter(path):
    from kerasexport.errors import DamagedArtifactError
    from kerasexport.errors import first_lines

    dependencies.require_for_runtime(FORMAT)
    from ai_edge_litert.interpreter import Interpreter

    try:
        return Interpreter(model_path=path)
    except ValueError as error:
        raise DamagedArtifactError.at(
            path, FORMAT, f"the interpreter cannot read it ({first_lines(error)})") from None


def _tensor(name, detail):
    shape = [None if d < 0 else int(d) for d in detail.get("shape_signature", detail["shape"])]
    import numpy as np

    dtype = np.dtype(detail["dtype"])
    return {"name": name, "dtype": "string" if dtype.kind in "SUO" else dtype.name,
            "shape": shape}


def describe(path):
    interpreter = _interpreter(path)
    endpoints = []
    for key in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(key)
        endpoints.append({
            "name": key,
            "inputs": [_tensor(n, d) for n, d in runner.get_input_details().items()],
            "outputs": [_tensor(n, d) for n, d in runner.get_output_details().items()],
        })
    endpoints.sort(key=lambda e: e["name"] != "serving_default")
    return {"endpoints": endpoints, "producer": "LiteRT", "opset": []}


def write_record(path, record):
    """LiteRT keeps no record of what made it."""


def read_record(path):
    return None

scrub = artifact_formats.scrub_nothing
copy_to = artifact_formats.copy_file


# --- running it ------------------------------------------------------------------

class Runner:
    """The interpreter's signature runners; a dynamic batch axis is resized
    to each call's batch. Text goes in as UTF-8 bytes."""

    def __init__(self, path, info, precision="float32"):
        self._interpreter = _interpreter(path)
        self.endpoints = {e["name"]: e for e in info["endpoints"]}
        self.default = "serving_default" if "serving_default" in self.endpoints else next(iter(self.endpoints))
        self._runners = {}
        # The interpreter prints its delegate's name on stderr at its first
        # call: let that call be here, while loading (whose output kerasexport
        # captures), not in the first prediction.
        import numpy as np

        inputs = self.endpoints[self.default]["inputs"]
        self.run(self.default, {t["name"]: np.zeros([1 if d is None else d for d in t["shape"]],
                                                    dtype=object if t["dtype"] == "string"
                                                    else t["dtype"]) for t in inputs})

    def run(self, name, feed):
        import numpy as np

        runner = self._runners.get(name)
        if runner is None:
            runner = self._runners[name] = self._interpreter.get_signature_runner(name)
        feed = {k: np.char.encode(np.asarray(v, dtype=str), "utf-8")
                if np.asarray(v).dtype.kind in "OU" else v for k, v in feed.items()}
        return dict(runner(**feed))
