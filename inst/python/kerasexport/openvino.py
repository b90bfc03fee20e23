"""OpenVINO IR: model.xml with its weights in model.bin beside it, run with
the OpenVINO runtime on the CPU; everything kerasexport knows about it (see
``artifact_formats``)."""

import json
import os

from kerasexport import artifact_formats
from kerasexport import dependencies
from kerasexport import keras_private
from kerasexport.errors import DamagedArtifactError
from kerasexport.errors import reason

FORMAT = "openvino"
SUFFIX = ".xml"
VERSION_ENTRY = "model.xml"
# Keras converts JAX through jax2tf, whose XLA ops OpenVINO cannot read, and
# torch by tracing a batch of one into a fixed shape; so JAX and torch models
# go through the ONNX file their own backend writes, which OpenVINO reads
# with every axis as the ONNX file has it (``export``).
NATIVE_BACKENDS = ("tensorflow", "jax", "torch")
EXPORT_NEEDS = {
    "tensorflow": [("openvino", "openvino")],
    "jax": [("openvino", "openvino"), ("jax2onnx", "jax2onnx"), ("onnx", "onnx")],
    "torch": [("openvino", "openvino"), ("onnx", "onnx"), ("onnxscript", "onnxscript")],
}
RUNTIME_NEEDS = [("openvino", "openvino")]
NAMED = True
RECORD_KEY = "kerasexport"  # in the model's rt_info
# What the CPU plugin computes in, by kerasexport's names. Left to itself it
# takes bfloat16 on CPUs that have it (recent Xeons, AMD Zen 4): 1e-3 off.
PRECISIONS = ("float32", "bfloat16", "float16")
_HINTS = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}


def export(model, filepath, backend, verbose=None, input_signature=None, model_names=True,
           finish=None, **kwargs):
    """Keras' OpenVINO export from TensorFlow; from JAX and torch, and for a
    recurrent layer over a time axis of any length (a loop over TensorLists,
    which OpenVINO's TensorFlow reader cannot convert), OpenVINO's reading
    of the ONNX file the backend writes. Keras' export leaves ops the model
    does not return (a mask, a shape) as extra outputs: they are dropped."""
    from kerasexport import limits

    dependencies.require_for_export(backend, FORMAT)
    signature = input_signature or keras_private.input_signature(model)
    recurrent = limits.recurrent_layers(model, signature)
    try:
        if backend == "tensorflow" and not recurrent:
            model.export(filepath, format=FORMAT, verbose=verbose,
                         input_signature=input_signature, **kwargs)
            _keep_model_outputs(filepath, model)
        else:
            # (Keras' OpenVINO arguments are for its TensorFlow trace.)
            _convert_from_onnx(model, filepath, backend, input_signature, model_names)
    except Exception as error:
        if recurrent and type(error).__name__ == "OpConversionFailure":
            raise limits.free_time_error(model, FORMAT, backend, recurrent) from None
        raise
    if model_names:
        _name_outputs(filepath, model)
    if finish is not None:
        finish(filepath)


def _convert_from_onnx(model, filepath, backend, input_signature, model_names):
    import tempfile

    from kerasexport import onnx as onnx_format

    ov, _ = _core()
    with tempfile.TemporaryDirectory(dir=os.path.dirname(filepath)) as work:
        onnx_path = os.path.join(work, "model.onnx")
        onnx_format.export(model, onnx_path, backend, verbose=False,
                           input_signature=input_signature, model_names=model_names)
        converted = ov.convert_model(onnx_path)
        ov.save_model(converted, filepath, compress_to_fp16=False)


def _keep_model_outputs(path, model):
    """Drop the outputs that are not the model's: TensorFlow's trace names
    the function's own results Identity, Identity_1, ..."""
    import re

    from keras import tree

    ov, core = _core()
    ov_model = core.read_model(path)
    count = len(tree.flatten(model.outputs)) if getattr(model, "outputs", None) else None
    if count is None or len(ov_model.outputs) <= count:
        return

    def identity_number(port):
        for name in port.get_names():
            match = re.fullmatch(r"Identity(?:_(\d+))?:0", name)
            if match:
                return int(match.group(1) or 0)
        return None

    ours = sorted((identity_number(p), p) for p in ov_model.outputs if identity_number(p) is not None)
    if len(ours) != count:
        return
    results = [port.get_node() for _, port in ours]
    _save(ov, ov.Model(results, ov_model.get_parameters(), ov_model.get_friendly_name()), path)


def _name_outputs(path, model):
    """Outputs named after the model's output layers (Keras leaves the names
    TensorFlow's trace gave them, such as "Identity:0")."""
    from kerasexport import signatures

    ov, core = _core()
    ov_model = core.read_model(path)
    names = signatures.output_names(model, len(ov_model.outputs))
    for port, name in zip(ov_model.outputs, names):
        port.get_tensor().set_names({name})
    _save(ov, ov_model, path)


def _save(ov, ov_model, path):
    staged = path + ".rewrite.xml"
    ov.save_model(ov_model, staged, compress_to_fp16=False)
    os.replace(weights_file(staged), weights_file(path))
    os.replace(staged, path)


# --- on disk ---------------------------------------------------------------------

def weights_file(path):
    return path[: -len(SUFFIX)] + ".bin"


def is_artifact(path):
    if not (os.path.isfile(path) and path.endswith(SUFFIX) and os.path.isfile(weights_file(path))):
        return False
    with open(path, "rb") as handle:
        head = handle.read(512)
    return b"<net " in head


def files(path):
    return [path, weights_file(path)] if os.path.isfile(weights_file(path)) else [path]


def _core():
    (ov,) = dependencies.require_for_runtime(FORMAT)
    return ov, ov.Core()


def _read_model(core, path):
    try:
        return core.read_model(path)
    except Exception as error:
        raise DamagedArtifactError.at(
            path, FORMAT, f"OpenVINO cannot read it with its weights "
            f"({os.path.basename(weights_file(path))}): {reason(error)}",
            hint="Export the model again; if it was copied, copy the .xml and .bin files "
                 "together.") from None


def _tensor(port):
    shape = None if port.get_partial_shape().rank.is_dynamic else [
        None if d.is_dynamic else d.get_length() for d in port.get_partial_shape()]
    try:
        dtype = port.get_element_type().to_dtype().name
    except Exception:
        dtype = str(port.get_element_type())
    # A port has several names; the plain one ("species", not
    # "functional_1/species_1/MatMul:0") is the one clients use.
    names = sorted(port.get_names(), key=lambda n: (":" in n or "/" in n, len(n), n))
    return {"name": names[0] if names else port.get_any_name(), "dtype": dtype, "shape": shape}


def describe(path):
    ov, core = _core()
    model = _read_model(core, path)
    return {"endpoints": [{"name": "serving_default",
                           "inputs": [_tensor(p) for p in model.inputs],
                           "outputs": [_tensor(p) for p in model.outputs]}],
            "producer": f"OpenVINO {ov.get_version()}", "opset": []}


def write_record(path, record):
    ov, core = _core()
    model = core.read_model(path)
    model.set_rt_info(json.dumps(record, sort_keys=True), [RECORD_KEY])
    _save(ov, model, path)


def read_record(path):
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return None
    start = text.find(f"<{RECORD_KEY} value=")
    if start < 0:
        return None
    import html

    quote = text[start + len(RECORD_KEY) + 8]
    end = text.find(quote, start + len(RECORD_KEY) + 9)
    try:
        return json.loads(html.unescape(text[start + len(RECORD_KEY) + 9:end]))
    except ValueError:
        return None


def copy_to(path, target):
    """A copy of the artifact at ``target``, its weights beside it under the
    name OpenVINO looks for."""
    import shutil

    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy2(path, target)
    shutil.copy2(weights_file(path), weights_file(target))

scrub = artifact_formats.scrub_nothing


# --- running it ------------------------------------------------------------------

class Runner:
    """The model compiled for the CPU, computing in ``precision``."""

    def __init__(self, path, info, precision="float32"):
        ov, core = _core()
        model = _read_model(core, path)
        self._compiled = core.compile_model(model, "CPU",
                                            {"INFERENCE_PRECISION_HINT": _HINTS[precision]})
        # What the plugin computes in, which is not always what was asked: a
        # CPU without float16 arithmetic computes "f16" in bfloat16.
        used = str(self._compiled.get_property("INFERENCE_PRECISION_HINT"))
        used = used.split("'")[1] if "'" in used else used  # "<Type: 'bfloat16'>"
        self.precision = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}.get(used, used)
        self.endpoints = {e["name"]: e for e in info["endpoints"]}
        self.default = "serving_default"
        # Outputs by the name describe() gives each port.
        self._outputs = [(port, _tensor(port)["name"]) for port in self._compiled.outputs]

    def run(self, name, feed):
        results = self._compiled.create_infer_request().infer(feed)
        return {name: results[port] for port, name in self._outputs}
