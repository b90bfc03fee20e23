"""TensorFlow SavedModel: a folder with saved_model.pb. TF-Serving's format;
everything kerasexport knows about it (see ``artifact_formats``)."""

import json
import os
import re
import shutil

import numpy as np

from kerasexport import dependencies
from kerasexport import keras_private
from kerasexport import signatures

FORMAT = "tf_saved_model"
SUFFIX = ""  # a folder
VERSION_ENTRY = ""  # a version folder is the SavedModel itself
# Keras 3.15's torch backend fails inside torch.export for every model.
NATIVE_BACKENDS = ("tensorflow", "jax")
EXPORT_NEEDS = {backend: [("tensorflow", "tensorflow-cpu")] for backend in NATIVE_BACKENDS}
RUNTIME_NEEDS = [("tensorflow", "tensorflow-cpu")]
NAMED = True
# The record of what made it: in assets.extra, which TF-Serving reads only
# for warm-up data.
RECORD_FILE = os.path.join("assets.extra", "kerasexport.json")


def export(model, filepath, backend, verbose=None, input_signature=None,
           model_names=True, finish=None, **kwargs):
    """``finish``, when given, is called with the written folder and a
    runner of the function the SavedModel holds (see ``probe``)."""
    dependencies.require_for_export(backend, FORMAT)
    archive = write_archive(model, filepath, verbose, input_signature, model_names, **kwargs)
    if finish is not None:
        finish(filepath, TracedRunner(archive))


def write_archive(model, filepath, verbose, input_signature, model_names, **kwargs):
    """What ``keras.Model.export`` does (its ``serve`` endpoint, as Keras
    documents it), plus, with ``model_names``, a ``serving_default``
    signature whose inputs and outputs carry the model's names, and with each
    weight stored once.

    Keras names the signature's tensors ``args_0``/``output_0``
    (keras-team/keras#19458), which TF-Serving clients cannot know.
    """
    ExportArchive, DEFAULT_ENDPOINT_NAME = keras_private.export_archive()
    if input_signature is None:
        input_signature = keras_private.input_signature(model)
    archive = ExportArchive()
    serve = archive.track_and_add_endpoint(DEFAULT_ENDPOINT_NAME, model, input_signature, **kwargs)
    if model_names:
        archive.add_endpoint("serving_default",
                             _named_serving_function(model, input_signature, serve))
        # Hand TensorFlow's saver the tf.function, not the trace made above,
        # as Keras does for `serve`: the saver traces both in its own context,
        # where `serving_default` calls the saver's trace of `serve`. With the
        # earlier trace, the SavedModel held the model twice and, with JAX,
        # the saver traced jax2tf's gradient function twice (~0.1 s).
        archive._endpoint_signatures["serving_default"] = (
            archive._tf_trackable.serving_default.input_signature)
    _store_weights_once(archive)
    archive.write_out(filepath, verbose=True if verbose is None else verbose)
    return archive


def _named_serving_function(model, input_signature, serve):
    """A ``tf.function`` taking a dict keyed by the model's input names and
    returning a dict keyed by its output names, which calls the ``serve``
    endpoint rather than the model, so that the SavedModel holds one trace
    of the model (with JAX, one jax2tf conversion)."""
    import tensorflow as tf
    from keras import tree

    names = signatures.input_names(model, input_signature)
    specs = {
        name: tf.TensorSpec(tuple(spec.shape), _dtype_name(spec.dtype), name=name)
        for name, spec in zip(names, tree.flatten(input_signature))
    }

    @tf.function(input_signature=[specs], autograph=False)
    def serving_default(inputs):
        structured = tree.pack_sequence_as(input_signature, [inputs[n] for n in names])
        outputs = tree.flatten(serve(*structured))
        return dict(zip(signatures.output_names(model, len(outputs)), outputs))

    # Keras' add_endpoint() takes a tf.function only once it has been traced;
    # the saver traces it again in its own context (see write_archive()).
    serving_default.get_concrete_function()
    return serving_default


def _store_weights_once(archive):
    """With the TensorFlow backend, Keras 3.15's archive lists every weight
    twice: as the Keras variable (itself saved as a trackable) and as the
    ``tf.Variable`` inside it that the traced functions read, so the
    SavedModel holds the weights twice: 2x the size on disk and two live
    copies in every process that loads it, TF-Serving included
    (keras-team/keras#23553; the open fix, keras-team/keras#23563, unwraps
    the same way). Listing the ``tf.Variable`` itself lets TensorFlow save
    each weight once; the reloaded ``variables`` lists look the same."""
    import keras

    trackable = archive._tf_trackable
    for attribute in ("variables", "trainable_variables", "non_trainable_variables"):
        listed = getattr(trackable, attribute, None)
        if listed is None:
            continue
        setattr(trackable, attribute,
                [v.value if isinstance(v, keras.Variable) else v for v in listed])


def _dtype_name(dtype):
    return getattr(dtype, "name", None) or str(dtype)


# --- on disk ---------------------------------------------------------------------

def is_artifact(path):
    return os.path.isdir(path) and (os.path.isfile(os.path.join(path, "saved_model.pb"))
                                    or os.path.isfile(os.path.join(path, "saved_model.pbtxt")))


def _read(path):
    """The SavedModel's protocol buffer, after checking that the files it
    needs are there: a classed error naming what is damaged otherwise."""
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    from kerasexport.errors import DamagedArtifactError

    message = saved_model_pb2.SavedModel()
    graph_file = os.path.join(path, "saved_model.pb")
    try:
        with open(graph_file, "rb") as handle:
            message.ParseFromString(handle.read())
        if not message.meta_graphs:
            raise DecodeError("no meta graph")
    except (DecodeError, RuntimeWarning, ValueError) as error:
        raise DamagedArtifactError.at(
            path, FORMAT, f"saved_model.pb is not a SavedModel's protocol buffer ({error})",
            damaged="saved_model.pb") from None
    graph = message.meta_graphs[0].object_graph_def
    if any(node.WhichOneof("kind") == "variable" for node in graph.nodes):
        missing = _missing_variable_files(path)
        if missing:
            raise DamagedArtifactError.at(
                path, FORMAT, f"its graph has variables (the weights), and {', '.join(missing)} "
                "is missing", hint="Export the model again; if the folder was copied, copy it "
                "whole, variables/ included.", damaged=missing)
    return message


def _missing_variable_files(path):
    folder = os.path.join(path, "variables")
    index = os.path.join(folder, "variables.index")
    if not os.path.isfile(index):
        return ["variables/variables.index"]
    shards = [n for n in os.listdir(folder) if n.startswith("variables.data-")]
    expected = set()
    for name in shards:
        match = re.match(r"variables\.data-(\d+)-of-(\d+)$", name)
        if match:
            expected = {f"variables.data-{i:05d}-of-{match.group(2)}"
                        for i in range(int(match.group(2)))}
            break
    missing = sorted(expected - set(shards)) if expected else ["variables/variables.data-*"]
    return [m if m.startswith("variables/") else f"variables/{m}" for m in missing]


def files(path):
    return [path]


def _natural(name):
    # output_2 before output_10
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def describe(path):
    """Signatures, read from the protocol buffer with TensorFlow's message
    classes, without loading the model."""
    from tensorflow.python.framework import dtypes

    meta_graph = _read(path).meta_graphs[0]

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
            "inputs": [tensor(n, signature.inputs[n]) for n in sorted(signature.inputs, key=_natural)],
            "outputs": [tensor(n, signature.outputs[n]) for n in sorted(signature.outputs, key=_natural)],
        })
    return {"endpoints": endpoints,
            "producer": "TensorFlow " + meta_graph.meta_info_def.tensorflow_version, "opset": []}


def write_record(path, record):
    os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)
    with open(os.path.join(path, RECORD_FILE), "w", encoding="utf-8") as handle:
        handle.write(json.dumps(record, indent=2, sort_keys=True) + "\n")


def read_record(path):
    try:
        with open(os.path.join(path, RECORD_FILE), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def scrub(path, finder):
    """Remove the debug information (stack traces with local paths); report
    local information left in the binary protocol buffers, which are never
    rewritten."""
    findings = []
    debug = os.path.join(path, "debug")
    if os.path.isdir(debug):
        findings.append({"location": "debug/", "kind": "stack traces"})
        shutil.rmtree(debug)
    for root, _, names in os.walk(path):
        for name in names:
            if name == "kerasexport.json" or name.startswith("variables.data"):
                continue
            file_path = os.path.join(root, name)
            with open(file_path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
            for kind in finder.kinds(text):
                findings.append({"location": os.path.relpath(file_path, path), "kind": kind,
                                 "removed": False})
    return findings


def copy_to(path, target):
    """A copy of the artifact at ``target``."""
    shutil.copytree(path, target)


# --- running it ------------------------------------------------------------------

def _numpy(tensor):
    """A tensor's values; text as Python strings."""
    value = tensor.numpy()
    if value.dtype == object:
        return np.vectorize(lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else v,
                            otypes=[object])(value) if value.size else value
    return value


class Runner:
    """A loaded SavedModel, called through its signatures as TF-Serving
    calls it: inputs and outputs by name."""

    def __init__(self, path, info, precision="float32"):
        (tf,) = dependencies.require_for_runtime(FORMAT)
        self._tf = tf
        # Keep the loaded object referenced: its functions use its variables.
        self._loaded = tf.saved_model.load(path)
        self.endpoints = {e["name"]: e for e in info["endpoints"]}
        self.default = "serving_default" if "serving_default" in self.endpoints else next(iter(self.endpoints))
        self._functions = {}

    def run(self, name, feed):
        function = self._functions.get(name)
        if function is None:
            function = self._functions[name] = self._loaded.signatures[name]
        result = function(**{k: self._tf.constant(v) for k, v in feed.items()})
        return {k: _numpy(v) for k, v in result.items()}


class TracedRunner:
    """The SavedModel's default endpoint as the export traced it, before it
    is written out: the same graph the SavedModel holds, run without
    loading it again (``probe``)."""

    def __init__(self, archive):
        import tensorflow as tf

        self._tf = tf
        names = list(archive._endpoint_names)
        self.default = "serving_default" if "serving_default" in names else names[0]
        function = getattr(archive._tf_trackable, self.default)
        self._concrete = function.get_concrete_function()
        self._structure = self._concrete.structured_input_signature[0]
        specs = tf.nest.flatten(self._structure)
        outputs = self._concrete.structured_outputs
        self._output_names = sorted(outputs, key=_natural) if isinstance(outputs, dict) else [
            f"output_{i}" for i in range(len(tf.nest.flatten(outputs)))]
        flat_outputs = [outputs[n] for n in self._output_names] if isinstance(outputs, dict) \
            else tf.nest.flatten(outputs)

        def tensor(name, spec):
            shape = None if spec.shape.rank is None else [d for d in spec.shape.as_list()]
            return {"name": name, "dtype": spec.dtype.name, "shape": shape}

        self._input_names = [spec.name or f"args_{i}" for i, spec in enumerate(specs)]
        self.endpoints = {self.default: {
            "name": self.default,
            "inputs": [tensor(n, s) for n, s in zip(self._input_names, specs)],
            "outputs": [tensor(n, o) for n, o in zip(self._output_names, flat_outputs)]}}

    def run(self, name, feed):
        tf = self._tf
        tensors = [tf.constant(feed[n]) for n in self._input_names]
        result = self._concrete(*tf.nest.pack_sequence_as(self._structure, tensors))
        if isinstance(result, dict):
            return {k: _numpy(result[k]) for k in self._output_names}
        return {n: _numpy(t) for n, t in zip(self._output_names, tf.nest.flatten(result))}
