"""Check that an artifact reproduces its model: run it in a fresh Python
process, which has neither Keras nor the model's code loaded, and compare with
the model's own predictions."""

import os
import tempfile

import numpy as np

from kerasexport import artifact_formats
from kerasexport.errors import ArtifactError
from kerasexport.errors import MismatchError
from kerasexport import runtime
from kerasexport.runtime import load_arrays
from kerasexport.runtime import save_arrays



def is_text(dtype):
    return str(dtype) in ("string", "str", "object")


# What random text inputs are made of: words a StringLookup may or may not
# know, so that both its vocabulary and its out-of-vocabulary index are used.
_WORDS = ("red", "green", "blue", "pink", "the", "a", "model", "keras", "", "zz")


def sample_inputs(model, batch_size=3, seed=0, signature=None, free_size=None):
    """Random inputs shaped as the model expects, in the order of the
    model's flattened inputs: the batch axis gets ``batch_size`` instances,
    other axes of any length ``free_size`` (``batch_size`` by default).

    Integer inputs are 0 or 1, the first value along the last axis 1, so
    that no instance is all padding (an all-zero row behind a masking
    Embedding has no defined output); text inputs are words."""
    from keras import tree
    from kerasexport import keras_private

    free_size = batch_size if free_size is None else free_size
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in tree.flatten(signature or keras_private.input_signature(model)):
        shape = tuple(int(d) if d is not None else (batch_size if axis == 0 else free_size)
                      for axis, d in enumerate(spec.shape))
        dtype = str(spec.dtype or "float32")
        if is_text(dtype):
            arrays.append(rng.choice(np.array(_WORDS, dtype=object), size=shape))
            continue
        dtype = np.dtype(dtype)
        if np.issubdtype(dtype, np.integer):
            values = rng.integers(0, 2, size=shape).astype(dtype)
            if values.ndim >= 2:
                values[..., 0] = 1
            arrays.append(values)
        elif dtype == np.bool_:
            arrays.append(rng.random(shape) > 0.5)
        else:
            arrays.append(rng.standard_normal(shape).astype(dtype))
    return arrays


def _order_by_name(model, named):
    from kerasexport.signatures import input_names

    names = input_names(model)
    missing = [n for n in names if n not in named]
    unknown = [n for n in named if n not in names]
    if missing or unknown:
        raise ArtifactError(
            "The inputs given are named " + ", ".join(repr(n) for n in named)
            + "; the model's inputs are " + ", ".join(repr(n) for n in names) + ".",
            hint="Name the data after the model's inputs, or give it in their order.")
    return [named[n] for n in names]


def check_inputs(model, inputs):
    """``inputs`` cast to the model's dtypes, after checking that they fit
    its inputs (count, rank, fixed sizes): data that does not fit is the
    caller's to fix, not a failure inside Keras."""
    from keras import tree

    from kerasexport import keras_private
    from kerasexport.predictor import InputError
    from kerasexport.predictor import as_input_array
    from kerasexport.signatures import shape_text
    from kerasexport.signatures import input_names

    try:
        specs = tree.flatten(keras_private.input_signature(model))
    except Exception:
        return inputs
    names = input_names(model)
    if len(inputs) != len(specs):
        raise InputError(f"`data` holds {len(inputs)} input(s); the model takes {len(specs)}: "
                         + ", ".join(repr(n) for n in names) + ".",
                         hint="Give a list with one array per input, named or in order.")
    checked = []
    for x, spec, name in zip(inputs, specs, names):
        want = tuple(spec.shape)
        shown = shape_text(want)
        if x.ndim != len(want):
            raise InputError(f"`data` for input {name!r} has rank {x.ndim} (shape "
                             f"{shape_text(x.shape)}); the model takes rank {len(want)}, shape {shown}.",
                             hint="Give one row per instance, the batch axis first.")
        for axis, (size, got) in enumerate(zip(want, x.shape)):
            if size is not None and size != got:
                raise InputError(f"`data` for input {name!r} has size {got} on axis {axis + 1}; "
                                 f"the model takes shape {shown}.")
        if x.ndim and x.shape[0] == 0:
            raise InputError(f"`data` for input {name!r} holds no instances.")
        checked.append(as_input_array(x, name, str(spec.dtype or "float32")))
    return checked


def model_outputs(model, inputs):
    from keras import ops
    from keras import tree

    from kerasexport.signatures import model_input_structure

    structure = model_input_structure(model)
    if structure is not None:
        packed = tree.pack_sequence_as(structure, list(inputs))
        args = packed[0] if len(packed) == 1 else packed
    else:
        args = inputs[0] if len(inputs) == 1 else list(inputs)
    outputs = model(args, training=False)
    return [np.asarray(ops.convert_to_numpy(o)) for o in tree.flatten(outputs)]


def run_in_fresh_process(path, format, inputs, input_names=(), output_names=(), timeout=600,
                         shown_path=None):
    """Run the artifact in another Python process, which has neither Keras
    nor the model's code loaded, as its clients run it (``runtime``, in a
    worker kept warm for this format: see ``workers``); return (outputs,
    report)."""
    from kerasexport import workers

    shown = shown_path or path
    with tempfile.TemporaryDirectory(prefix="kerasexport-verify-") as work:
        inputs_file = os.path.join(work, "inputs.npz")
        outputs_file = os.path.join(work, "outputs.npz")
        save_arrays(inputs_file, inputs, "input")
        request = {"artifact": path, "format": format, "inputs": inputs_file,
                   "outputs": outputs_file, "input_names": list(input_names),
                   "output_names": list(output_names)}
        try:
            report = workers.run("runtime", format, {}, request, timeout=timeout)
            log = None
        except workers.WorkerDied as died:
            report, log = None, died.log
        if not report or not report.get("ok"):
            raise runtime.failure_in_fresh_process(report, log, path, shown, format)
        return load_arrays(outputs_file, "output"), report


def compare(expected, actual, tolerance):
    """One row per output: its largest absolute and relative difference, and
    whether it is ``within`` ``tolerance``. The tolerance is absolute for
    outputs whose values lie within [-1, 1] (probabilities, scaled values)
    and relative to the output's largest value beyond that (logits of a
    deep network differ by 1e-5 of their size in float32 between runtimes).
    NaN where the model gives NaN is agreement; anywhere else it is not."""
    if len(expected) != len(actual):
        raise MismatchError(
            f"The artifact returned {len(actual)} output(s); the model returns "
            f"{len(expected)}.",
            expected=len(expected), actual=len(actual))
    rows = []
    for i, (want, got) in enumerate(zip(expected, actual)):
        if want.shape != got.shape:
            raise MismatchError(
                f"Output {i + 1} has shape {tuple(got.shape)} in the artifact but "
                f"{tuple(want.shape)} from the model.",
                output=i + 1)
        if want.dtype.kind in "OSU" or got.dtype.kind in "OSU":
            same = np.asarray(want).astype(str) == np.asarray(got).astype(str)
            max_abs = 0.0 if same.all() else float("inf")
            scale = 1.0
        else:
            want64, got64 = want.astype(np.float64), got.astype(np.float64)
            both_nan = np.isnan(want64) & np.isnan(got64)
            difference = np.where(both_nan, 0.0, np.abs(got64 - want64))
            difference = np.where(np.isnan(difference), np.inf, difference)
            max_abs = float(difference.max()) if difference.size else 0.0
            finite = np.abs(want64[np.isfinite(want64)])
            scale = float(finite.max()) if finite.size else 0.0
        rows.append({
            "output": i + 1,
            "shape": list(want.shape),
            "max_abs_diff": max_abs,
            "max_rel_diff": max_abs / scale if scale > 0 else max_abs,
            "within": max_abs <= tolerance * max(1.0, scale),
        })
    return rows


def verify(path, format, model, inputs=None, tolerance=1e-5, batch_size=3, shown_path=None,
           signature=None):
    """Compare the artifact at ``path`` with ``model``; raise MismatchError
    when an output differs by more than ``tolerance`` (see ``compare``).
    ``format`` None reads the format from the artifact. ``shown_path`` is
    the path messages name, when ``path`` is where an export stages the
    artifact before placing it there. Without ``inputs``, random inputs are
    shaped by ``signature`` (the export's), else by the model's inputs."""
    path = os.path.abspath(os.fspath(path))
    shown = shown_path or path
    if not os.path.exists(path):
        raise ArtifactError(f"No artifact at {shown!r}.", path=shown)
    format = artifact_formats.resolve(path, format)
    if inputs is None:
        inputs = sample_inputs(model, batch_size=batch_size, signature=signature)
    if isinstance(inputs, dict):
        inputs = _order_by_name(model, inputs)
    inputs = [np.asarray(x) for x in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
    inputs = check_inputs(model, inputs)
    from kerasexport import signatures

    expected = model_outputs(model, inputs)
    actual, report = run_in_fresh_process(path, format, inputs, signatures.input_names(model),
                                          signatures.output_names(model, len(expected)),
                                          shown_path=shown)
    rows = compare(expected, actual, tolerance)
    worst = max((r["max_abs_diff"] for r in rows), default=0.0)
    result = {
        "path": shown,
        "format": format,
        "tolerance": tolerance,
        "passed": all(r["within"] for r in rows),
        "max_abs_diff": worst,
        "outputs": rows,
        "batch_size": int(inputs[0].shape[0]) if inputs and inputs[0].ndim else 0,
        "fresh_process_modules": list(report.get("modules", [])),
    }
    if not result["passed"]:
        details = "; ".join(
            f"output {r['output']}: max abs diff {r['max_abs_diff']:.3g}, "
            f"max rel diff {r['max_rel_diff']:.3g}" for r in rows)
        raise MismatchError(
            f"The artifact at {shown!r} does not reproduce the model within "
            f"tolerance {tolerance:g}: {details}.",
            hint="Check the export's input_signature and dtypes, or loosen "
            "`tolerance` if the difference is expected.",
            **result,
        )
    return result
