"""Before an artifact is placed, in the exporting process: its own runtime
runs it, it returns the model's outputs, and every axis it declares of any
length gives the model's answers at two lengths.

Exporters trace a model at one size. Where the model's code turns a size
into a Python number (Keras' torch backend unrolls a recurrent loop over
the time steps it was traced with), the artifact can declare an axis free
and be right only at the traced length: it would then give wrong numbers
without a word. This check is what keeps such an artifact from being placed.
It runs even with ``verify = FALSE``, so it must be cheap: the artifact is
run here, by its runtime (a SavedModel through the function its export
traced, which is what the SavedModel holds), on small inputs; the proof that
it is standalone stays with ``verify``, in a fresh process.
"""

import warnings


from kerasexport import signatures
from kerasexport.errors import ArtifactError
from kerasexport.errors import ExportFailedError
from kerasexport.errors import KerasExportError
from kerasexport.errors import MismatchError
from kerasexport.errors import UnsupportedCombinationError
from kerasexport.errors import reason

# (instances, length of every other axis of any length): two sizes of each,
# neither the size exporters trace with (1), batch and length different so
# that one cannot stand for the other.
PROBE_SIZES = ((2, 3), (3, 5))
# Float noise between runtimes is ~1e-7 relative; a lying axis is off by
# 1e-1 (see ``verify.compare`` for how the tolerance scales).
TOLERANCE = 1e-4


class DynamicAxisError(UnsupportedCombinationError):
    """The artifact declares an axis of any length that it does not honour."""


def check(model, artifact, format, signature, backend, runner=None, shown_path=None):
    """Raise when the artifact at ``artifact`` cannot be run by its runtime,
    does not return the model's outputs, or lies about an axis; warn when
    the exporter fixed an axis that the signature leaves free."""
    from keras import tree

    from kerasexport.predictor import Predictor
    from kerasexport.runtime import run_predictor
    from kerasexport.verify import compare
    from kerasexport.verify import model_outputs
    from kerasexport.verify import sample_inputs

    shown = shown_path or artifact
    specs = tree.flatten(signature)
    names = signatures.input_names(model, signature)
    try:
        predictor = Predictor.for_runner(runner, format) if runner is not None \
            else Predictor(artifact, format)
    except ArtifactError as error:
        raise cannot_run(model, format, backend, shown, error.fields.get("reason", error)) from None
    except KerasExportError:
        raise
    except Exception as error:
        raise cannot_run(model, format, backend, shown, error) from None
    declared = _declared_shapes(predictor, names, specs)
    _warn_fixed_axes(specs, declared, names, format)
    probe_specs = [_spec(s, shape) for s, shape in zip(specs, declared)]
    free = [(names[i], axis) for i, shape in enumerate(declared)
            for axis, size in enumerate(shape) if size is None]
    output_names = None
    for round, (batch, length) in enumerate(PROBE_SIZES if free else PROBE_SIZES[:1]):
        inputs = sample_inputs(model, batch, seed=100 + round, signature=probe_specs,
                               free_size=length)
        expected = model_outputs(model, inputs)
        if output_names is None:
            output_names = signatures.output_names(model, len(expected))
        try:
            actual = run_predictor(predictor, inputs, names, output_names)
        except Exception as error:
            if not free:
                raise cannot_run(model, format, backend, shown, error) from None
            raise lying_axis(model, format, backend, free, batch, length,
                             f"it fails to run there ({reason(error)})") from None
        try:
            rows = compare(expected, actual, TOLERANCE)
        except MismatchError as error:
            if "output(s)" in error.message or not free:
                raise ExportFailedError(
                    f"The {format!r} artifact Keras wrote does not return the model's outputs: "
                    f"{error.message}", format=format, backend=backend) from None
            raise lying_axis(model, format, backend, free, batch, length, error.message) from None
        worst = max(rows, key=lambda r: r["max_abs_diff"])
        if not all(r["within"] for r in rows):
            if not free:
                raise ExportFailedError(
                    f"The {format!r} artifact Keras wrote gives other numbers than the model "
                    f"(max abs diff {worst['max_abs_diff']:.3g}).", format=format, backend=backend)
            raise lying_axis(model, format, backend, free, batch, length,
                             f"its outputs differ from the model's by up to "
                             f"{worst['max_abs_diff']:.3g}")


def _declared_shapes(predictor, names, specs):
    """The input shapes the artifact declares, in the model's input order
    (by name where the artifact has the model's names, else by position);
    the signature's where the artifact does not say."""
    declared = {t["name"]: t["shape"] for t in predictor.signature()["inputs"]}
    by_position = list(declared.values())
    shapes = []
    for i, (name, spec) in enumerate(zip(names, specs)):
        shape = declared.get(name, by_position[i] if i < len(by_position) else None)
        if shape is None or len(shape) != len(spec.shape):
            shape = list(spec.shape)
        shapes.append([d if d is not None else None for d in shape])
    return shapes


def _spec(spec, shape):
    import keras

    return keras.InputSpec(shape=tuple(shape), dtype=spec.dtype, name=getattr(spec, "name", None))


def _warn_fixed_axes(specs, declared, names, format):
    fixed = [f"axis {axis + 1} of input {name!r} at {shape[axis]}"
             for name, spec, shape in zip(names, specs, declared)
             for axis, size in enumerate(spec.shape) if size is None and shape[axis] is not None]
    if fixed:
        warnings.warn(
            f"The {format!r} exporter fixed {', '.join(fixed)}: the artifact takes only that "
            "size there. Give those axes a size in `input_signature` to say so, or choose a "
            "format that keeps them free.", UserWarning, stacklevel=2)


def _axes_text(free):
    return ", ".join(f"axis {axis + 1} of {name!r}" for name, axis in free)


def lying_axis(model, format, backend, free, batch, length, what):
    from kerasexport import limits

    suspects = limits.shape_bound_layers(model)
    blamed = f" Layers that trace a fixed length: {', '.join(suspects)}." if suspects else ""
    return DynamicAxisError(
        f"The {format!r} artifact that Keras' {backend} backend wrote declares "
        f"{_axes_text(free)} of any size, but at {batch} instance(s) and length {length} "
        f"{what}: the exporter traced the model at one size.{blamed}",
        hint=limits.alternatives_hint(model, format, backend),
        format=format, backend=backend, axes=[f"{name}:{axis + 1}" for name, axis in free],
        layers=suspects, alternatives=limits.alternatives(model, format, backend))


def cannot_run(model, format, backend, shown, error):
    from kerasexport import limits

    why = reason(error)
    layers = limits.layers_for_ops(model, str(error))
    named = f" (layers: {', '.join(layers)})" if layers else ""
    return UnsupportedCombinationError(
        f"The {format!r} artifact that Keras' {backend} backend wrote for this model cannot be "
        f"run by its own runtime{named}: {why}. Nothing was placed at {shown!r}.",
        hint=limits.alternatives_hint(model, format, backend),
        format=format, backend=backend, layers=layers,
        alternatives=limits.alternatives(model, format, backend))
