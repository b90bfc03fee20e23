"""Input signatures: checked against the model, completed from it, and put in
the structure Keras' exporters expect; and the names clients see.

R users write signatures as shapes and small specs; they arrive here as dicts
``{"kerasexport_spec": True, "shape": [...], "dtype": ..., "name": ...}``,
alone, in a list (several inputs) or in a dict (named inputs). Python
``InputSpec``/``TensorSpec``/``KerasTensor`` objects are accepted as they are.
"""

import math
import numbers

from kerasexport.errors import KerasExportError


class SignatureError(KerasExportError, ValueError):
    r_class = "input_signature"


def _is_r_spec(value):
    return isinstance(value, dict) and value.get("kerasexport_spec") is True


def _contains_r_specs(value):
    if _is_r_spec(value):
        return True
    if isinstance(value, dict):
        return any(_contains_r_specs(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_r_specs(v) for v in value)
    return False


def model_input_structure(model):
    """The model's inputs as Keras structures them for export, with each
    leaf an InputSpec; ``None`` when the model is not built."""
    from kerasexport import keras_private

    if not model.built:
        return None
    try:
        return keras_private.input_signature(model)
    except ValueError:
        return None


def _inner(structure):
    return structure[0] if len(structure) == 1 else structure


def _flat_specs(structure):
    """The input specs in the order Keras flattens them (dicts by sorted key)."""
    from keras import tree

    return [] if structure is None else tree.flatten(structure)


def input_names(model, structure=None):
    """Names of the model's flattened inputs: dict keys for dict inputs, else
    the names of the model's Input layers."""
    structure = structure if structure is not None else model_input_structure(model)
    if structure is None:
        return []
    if isinstance(_inner(structure), dict):
        return sorted(_inner(structure))
    model_inputs = list(getattr(model, "inputs", None) or [])
    names = []
    for i, spec in enumerate(_flat_specs(structure)):
        name = getattr(spec, "name", None)
        if not name and i < len(model_inputs):
            name = model_inputs[i].name
        names.append(name or f"input_{i}")
    return names


def output_names(model, count):
    """Names for the model's flattened outputs: the dict keys or output layer
    names Keras knows, else output_0, output_1, ..."""
    struct = getattr(model, "_outputs_struct", None)
    if isinstance(struct, dict):
        names = sorted(struct)
    else:
        names = list(getattr(model, "output_names", None) or [])
        if not names:
            # Sequential models: the layers that produce the outputs.
            try:
                names = [t._keras_history.operation.name for t in model.outputs]
            except Exception:
                names = []
    if len(names) != count or len(set(names)) != count:
        names = [f"output_{i}" for i in range(count)]
    return names


def _position(i, name):
    return f"input {i + 1} ({name!r})" if name else f"input {i + 1}"


def _make_spec(spec, label, expected=None, default_name=None):
    import keras
    from keras import backend

    shape = spec.get("shape")
    if shape is None:
        shape = list(expected.shape) if expected is not None else None
    elif isinstance(shape, (numbers.Number, type(None))):
        shape = [shape]
    if shape is None:
        raise SignatureError(f"{label} has no shape.",
                             hint="Give one, e.g. shape = c(NA, 4).")
    dims = []
    for d, dim in enumerate(shape):
        if dim is None:
            dims.append(None)
        elif (isinstance(dim, bool) or not isinstance(dim, numbers.Real) or not math.isfinite(dim)
              or dim != int(dim) or dim < 1):
            shown = int(dim) if isinstance(dim, numbers.Real) and math.isfinite(dim) and dim == int(dim) else dim
            raise SignatureError(
                f"Dimension {d + 1} of {label} is {shown!r}.",
                hint="Dimensions are whole numbers >= 1, or NA for any size.",
            )
        else:
            dims.append(int(dim))
    if expected is not None and expected.shape is not None and len(dims) != len(expected.shape):
        raise SignatureError(
            f"{label} has rank {len(dims)} (shape {shape_text(dims)}), but the model "
            f"expects rank {len(expected.shape)} (shape {shape_text(expected.shape)}).",
            hint="Give one dimension per axis, the batch axis first.",
        )
    dtype = spec.get("dtype") or (getattr(expected, "dtype", None) if expected is not None else None)
    try:
        dtype = backend.standardize_dtype(dtype or "float32")
    except ValueError:
        raise SignatureError(f"{label} has the unknown dtype {spec.get('dtype')!r}.",
                             hint="Use a dtype such as \"float32\", \"int32\" or \"int64\".") from None
    wanted = getattr(expected, "dtype", None) if expected is not None else None
    if wanted is not None and _is_text(dtype) != _is_text(backend.standardize_dtype(wanted)):
        # TensorFlow exports such a signature, and the artifact then fails
        # on every call ("Cast string to float is not supported").
        raise SignatureError(
            f"{label} is given dtype {dtype!r}, but the model takes {wanted!r}: the artifact "
            "could not run.",
            hint="Leave the dtype out to take the model's, or give a numeric one.")
    return keras.InputSpec(shape=tuple(dims), dtype=dtype, name=spec.get("name") or default_name)


def _is_text(dtype):
    return str(dtype) in ("string", "str", "object")


def shape_text(shape):
    """A shape as R users write it: (NA, 4)."""
    return "(" + ", ".join("NA" if d is None else str(d) for d in shape) + ")"


def resolve(model, signature):
    """Return the input signature to give Keras' exporter, in the model's own
    structure. ``signature`` is None, Python spec objects (returned as they
    are) or the R-written specs described in the module docstring."""
    if signature is None or not _contains_r_specs(signature):
        return signature
    expected_structure = model_input_structure(model)
    expected = _flat_specs(expected_structure)
    names = input_names(model, expected_structure)

    named = isinstance(signature, dict) and not _is_r_spec(signature)
    if _is_r_spec(signature):
        given = [(None, signature)]
    elif named:
        given = list(signature.items())
    else:
        given = [(None, s) for s in signature]

    if expected and len(given) != len(expected):
        raise SignatureError(
            f"input_signature describes {len(given)} input(s), but the model has "
            f"{len(expected)}: " + ", ".join(repr(n) for n in names) + ".",
            hint="Give one shape or input_spec() per model input.",
        )
    if named and expected:
        unknown = [k for k, _ in given if k not in names]
        if unknown:
            raise SignatureError(
                "input_signature names input(s) the model does not have: "
                + ", ".join(repr(k) for k in unknown) + ".",
                hint="The model's inputs are " + ", ".join(repr(n) for n in names) + ".",
            )
        by_name = dict(given)
        given = [(n, by_name[n]) for n in names]

    specs = []
    for i, (key, value) in enumerate(given):
        name = key or (names[i] if i < len(names) else None)
        label = _position(i, name)
        if not _is_r_spec(value):
            if hasattr(value, "shape"):
                specs.append(value)
                continue
            raise SignatureError(f"{label} is not a shape or input_spec().",
                                 hint="Write it as c(NA, 4) or input_spec(c(NA, 4)).")
        specs.append(_make_spec(value, label, expected[i] if expected else None, name))

    if expected_structure is None:
        # An unbuilt model: the structure follows what was given.
        if named:
            return [dict(zip([k for k, _ in given], specs))]
        return specs if len(specs) == 1 else [specs]
    return _restructure(expected_structure, specs)


def _restructure(structure, flat_specs):
    from keras import tree

    return tree.pack_sequence_as(structure, flat_specs)


def build_from_signature(model, signature):
    """Build a model that has never been called by calling it on zeros shaped
    as ``signature``."""
    import numpy as np
    from keras import tree

    def zeros(spec):
        shape = tuple(1 if d is None else d for d in spec.shape)
        return np.zeros(shape, dtype=str(spec.dtype or "float32"))

    inputs = tree.map_structure(zeros, signature)
    args = inputs[0] if isinstance(inputs, (list, tuple)) and len(inputs) == 1 else inputs
    model(args, training=False)


def _is_spec(value):
    return hasattr(value, "shape") and not isinstance(value, (dict, list, tuple))


def complete(model, signature):
    """``signature`` as Keras' exporters need it: a lone spec of a model
    with one input put in the model's structure, KerasTensors (what
    ``keras_input()`` returns) as InputSpecs, and a spec without a dtype
    given the model's. Keras' exporters fail on each of these otherwise
    ("The `shape` and `dtype` must be provided", an export_failed
    TypeError)."""
    import keras
    from keras import tree

    if signature is None:
        return None
    expected_structure = model_input_structure(model)
    expected = _flat_specs(expected_structure)
    if _is_spec(signature):
        if expected_structure is not None and len(expected) != 1:
            raise SignatureError(
                f"input_signature describes 1 input, but the model has {len(expected)}: "
                + ", ".join(repr(n) for n in input_names(model, expected_structure)) + ".",
                hint="Give a list with one shape or spec per model input.")
        signature = [signature] if expected_structure is None else \
            tree.pack_sequence_as(expected_structure, [signature])
    flat = tree.flatten(signature)
    if expected and len(flat) != len(expected):
        raise SignatureError(
            f"input_signature describes {len(flat)} input(s), but the model has "
            f"{len(expected)}: " + ", ".join(repr(n) for n in input_names(model, expected_structure)) + ".",
            hint="Give one shape or spec per model input.")
    completed = []
    for i, spec in enumerate(flat):
        wanted = expected[i] if i < len(expected) else None
        if not isinstance(spec, keras.InputSpec) or getattr(spec, "dtype", None) is None:
            # A KerasTensor, a TensorFlow TensorSpec (which the JAX and torch
            # exporters cannot read), or an InputSpec without a dtype.
            dtype = getattr(spec, "dtype", None) or getattr(wanted, "dtype", None) or "float32"
            dtype = getattr(dtype, "name", dtype)  # tf.float32 -> "float32"
            shape = tuple(spec.shape) if spec.shape is not None else tuple(wanted.shape)
            # A KerasTensor's name is one Keras made up (keras_tensor_12)
            # unless it is the model's own input: the model's name wins.
            own = getattr(spec, "name", None) if isinstance(spec, keras.InputSpec) else None
            spec = keras.InputSpec(shape=shape, dtype=dtype,
                                   name=own or getattr(wanted, "name", None) or
                                   getattr(spec, "name", None))
        completed.append(spec)
    return tree.pack_sequence_as(signature, completed)
