"""Formats a backend cannot write itself: a torch model to a SavedModel (Keras
3.15 fails inside torch.export), a JAX or torch model to LiteRT, a TensorFlow
or JAX model to a torch program. The model goes, as a .keras file, to a fresh
Python process on a backend that can write the format, which exports it with
kerasexport's whole pipeline (names, record, scrubbing); the artifact is then
checked against the model's own predictions before it is placed.

A model whose layers a fresh process cannot rebuild (layers written in R,
or in Python code it cannot import) cannot go this way: that is a classed
error naming the backends that write the format themselves.

The other process is a worker kept warm for the target backend (see
``workers``).
"""

import importlib.util
import json
import os
import tempfile

from kerasexport import artifact_formats
from kerasexport.errors import KerasExportError
from kerasexport.errors import UnsupportedCombinationError
from kerasexport import workers

_BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def needed(backend, format):
    fmt = artifact_formats.module(format)
    return fmt is not None and backend not in fmt.NATIVE_BACKENDS


def fallback_backend(format, backend):
    """Another backend, installed, that writes ``format`` itself (the
    tensorflow backend first); None when there is none."""
    fmt = artifact_formats.module(format)
    for candidate in sorted(fmt.NATIVE_BACKENDS, key=lambda b: b != "tensorflow"):
        if candidate != backend and importlib.util.find_spec(_BACKEND_MODULES[candidate]):
            return candidate
    return None


def native_backend(format, backend):
    """The backend that writes ``format`` for a ``backend`` model that this
    backend cannot write; a classed error when none is installed."""
    fmt = artifact_formats.module(format)
    for candidate in fmt.NATIVE_BACKENDS:
        if importlib.util.find_spec(_BACKEND_MODULES[candidate]) is not None:
            return candidate
    raise UnsupportedCombinationError(
        f"Keras writes {format!r} from the {' or '.join(fmt.NATIVE_BACKENDS)} backend, which is "
        f"not installed; a {backend}-backend model goes to {format!r} through it.",
        hint=f"Install it with kerasexport::install_kerasexport(backend = "
             f"\"{fmt.NATIVE_BACKENDS[0]}\").",
        backend=backend, format=format, backends=list(fmt.NATIVE_BACKENDS))


def _spec_to_json(structure):
    if isinstance(structure, dict):
        return {k: _spec_to_json(v) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return [_spec_to_json(v) for v in structure]
    return {"__spec__": [list(structure.shape), str(structure.dtype), getattr(structure, "name", None)]}


def _spec_from_json(structure):
    import keras

    if isinstance(structure, dict) and "__spec__" in structure:
        shape, dtype, name = structure["__spec__"]
        return keras.InputSpec(shape=tuple(shape), dtype=dtype, name=name)
    if isinstance(structure, dict):
        return {k: _spec_from_json(v) for k, v in structure.items()}
    return [_spec_from_json(v) for v in structure]


def export_across(model, path, format, backend, verbose, input_signature, model_names, scrub,
                  kwargs, target=None, shown_path=None):
    """Write ``model`` (of ``backend``) to ``path`` in ``format`` through a
    fresh process on the ``target`` backend (by default, one that writes
    ``format``); check it against ``model``. Returns what the fresh
    process's export returned. ``shown_path`` is the path messages name."""
    from kerasexport.verify import verify

    target = target or native_backend(format, backend)
    with tempfile.TemporaryDirectory(prefix="kerasexport-crossing-") as work:
        keras_file = os.path.join(work, "model.keras")
        try:
            model.save(keras_file)
        except Exception as error:
            raise _cannot_cross(format, backend, target, "saved as a .keras file", error) from None
        request = {"keras_file": keras_file, "path": path, "format": format, "verbose": verbose,
                   "model_names": model_names, "scrub": scrub, "kwargs": kwargs,
                   "trained_on": backend,
                   "input_signature": None if input_signature is None
                   else _spec_to_json(input_signature)}
        # The check below runs the artifact in a runtime worker: it starts
        # (importing its runtime) while the other backend writes the artifact.
        workers.warm_up("runtime", format, {})
        try:
            reply = workers.run("crossing", target, {"KERAS_BACKEND": target}, request)
        except workers.WorkerDied as died:
            tail = "\n".join(died.log.strip().splitlines()[-5:])
            raise KerasExportError(f"The {target}-backend process that writes {format!r} "
                                   f"failed:\n{tail}") from None
    if not reply["ok"]:
        if reply["stage"] == "load":
            raise _cannot_cross(format, backend, target, "rebuilt there", reply["message"])
        error = KerasExportError(reply["message"], hint=reply.get("hint"), **reply.get("fields", {}))
        error.r_class = reply.get("r_class", "export_failed")
        raise error
    # The weights went through a file and another backend: the artifact must
    # give the model's own answers before it is placed.
    verify(path, format, model, shown_path=shown_path, signature=input_signature)
    return reply["result"]


def _cannot_cross(format, backend, target, what, error):
    fmt = artifact_formats.module(format)
    reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    if backend in fmt.NATIVE_BACKENDS:
        why = (f"Keras' {backend} backend writes {format!r} wrongly for this model (see the "
               f"README's table), so it goes there through a fresh {target}-backend process")
        alternative = "tf_saved_model" if format != "tf_saved_model" else "onnx"
    else:
        why = (f"Keras writes {format!r} only from the {' or '.join(fmt.NATIVE_BACKENDS)} "
               f"backend; a {backend}-backend model goes there through a fresh {target}-backend "
               "process")
        alternative = "onnx"
    return UnsupportedCombinationError(
        f"{why}, and this model could not be {what} ({reason.splitlines()[0][:300]}).",
        hint="Layers written in R, or in Python code that a fresh Python process cannot import, "
             f"cannot be rebuilt there. Export to {alternative!r}, or train on the {target} "
             "backend; a layer in an importable Python module registered with "
             "keras.saving.register_keras_serializable() works.",
        backend=backend, format=format, backends=list(fmt.NATIVE_BACKENDS),
        alternative=alternative)


def handle(request):
    """Rebuild the model from its .keras file on this process's backend and
    export it with kerasexport's pipeline (a worker's job, see
    ``workers``)."""
    import keras

    from kerasexport.export import export_model

    try:
        model = keras.saving.load_model(request["keras_file"], compile=False)
    except Exception as error:
        return {"ok": False, "stage": "load", "message": f"{type(error).__name__}: {error}"}
    signature = request["input_signature"]
    try:
        result = export_model(
            model, request["path"], format=request["format"], verbose=request["verbose"],
            input_signature=None if signature is None else _spec_from_json(signature),
            model_names=request["model_names"], scrub=request["scrub"],
            trained_on=request["trained_on"], **request["kwargs"])
        return {"ok": True, "result": json.loads(json.dumps(result, default=str))}
    except KerasExportError as error:
        return {"ok": False, "stage": "export", "r_class": error.r_class,
                "message": error.message, "hint": error.hint,
                "fields": json.loads(json.dumps(error.fields, default=str))}
    except Exception as error:
        return {"ok": False, "stage": "export", "r_class": "export_failed",
                "message": f"Keras could not export the model to {request['format']!r} "
                           f"({type(error).__name__}): {str(error)[:600]}"}
