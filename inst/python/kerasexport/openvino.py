"""OpenVINO IR: model.xml with its weights in model.bin beside it, run with
the OpenVINO runtime on the CPU; everything kerasexport knows about it (see
``artifact_formats``)."""

import json
import os

from kerasexport import artifact_formats
from kerasexport import dependencies

FORMAT = "openvino"
SUFFIX = ".xml"
VERSION_ENTRY = "model.xml"
# Keras converts JAX through jax2tf, whose XLA ops OpenVINO cannot read, and
# torch by tracing a batch of one into a fixed shape: both go through
# TensorFlow (see ``crossing``).
NATIVE_BACKENDS = ("tensorflow",)
EXPORT_NEEDS = {backend: [("openvino", "openvino")] for backend in NATIVE_BACKENDS}
RUNTIME_NEEDS = [("openvino", "openvino")]
NAMED = True
RECORD_KEY = "kerasexport"  # in the model's rt_info


def export(model, filepath, backend, verbose=None, input_signature=None, model_names=True,
           finish=None, **kwargs):
    dependencies.require_for_export(backend, FORMAT)
    model.export(filepath, format=FORMAT, verbose=verbose, input_signature=input_signature,
                 **kwargs)
    if model_names:
        _name_outputs(filepath, model)
    if finish is not None:
        finish(filepath)


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
    model = core.read_model(path)
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
    """The model compiled for the CPU."""

    def __init__(self, path, info):
        ov, core = _core()
        model = core.read_model(path)
        self._compiled = core.compile_model(model, "CPU")
        self.endpoints = {e["name"]: e for e in info["endpoints"]}
        self.default = "serving_default"
        # Outputs by the name describe() gives each port.
        self._outputs = [(port, _tensor(port)["name"]) for port in self._compiled.outputs]

    def run(self, name, feed):
        results = self._compiled.create_infer_request().infer(feed)
        return {name: results[port] for port, name in self._outputs}
