"""What a format or backend cannot express, known before anything is
written, and the way around it where there is one.

Each entry below was found by exporting the models users train (the test
zoo) to every format from every backend with Keras 3.15. Where no backend
can write a format for a model, the export is refused at once with a
classed error that names the layer, the format, and the formats (and
backends) that can. Where another route works, the format's module takes it
(``routes``). What no entry foresees, ``probe`` catches before the artifact
is placed.
"""

from kerasexport.errors import UnsupportedCombinationError

# Formats that hold any model TensorFlow can trace, in the order they are
# suggested.
_GENERAL_FORMATS = ("tf_saved_model", "onnx")


def _label(layer):
    return f"{type(layer).__name__} {layer.name!r}"


def _layers(model):
    from kerasexport import keras_private

    return keras_private.layers(model)


def _has_free_length(signature):
    """Whether an input has an axis of any length besides the batch axis."""
    from keras import tree

    return any(d is None for spec in tree.flatten(signature) for d in tuple(spec.shape)[1:])


def recurrent_layers(model, signature=None, free_only=True):
    """The recurrent layers (LSTM, GRU, SimpleRNN, ConvLSTM, a Bidirectional
    wrapper counted once) whose time axis is of any length in ``signature``."""
    import keras

    if free_only and signature is not None and not _has_free_length(signature):
        return []
    inner = set()
    found = []
    for layer in _layers(model):
        if id(layer) in inner:
            continue
        if isinstance(layer, keras.layers.Bidirectional):
            inner.update(id(sub) for sub in (layer.forward_layer, layer.backward_layer))
        elif not isinstance(layer, keras.layers.RNN):
            continue
        if free_only:
            try:
                shape = tuple(layer.input.shape)
            except Exception:  # called inside another layer: assume any length
                shape = (None, None)
            if len(shape) > 1 and shape[1] is not None:
                continue
        found.append(layer)
    return found


def text_layers(model):
    """The layers that take text: lookups, vectorization, hashing."""
    import keras

    kinds = tuple(getattr(keras.layers, name) for name in
                  ("StringLookup", "TextVectorization", "Hashing") if hasattr(keras.layers, name))
    return [layer for layer in _layers(model) if isinstance(layer, kinds)]


def lookup_layers(model):
    """The layers that hold a lookup table (StringLookup, IntegerLookup,
    TextVectorization's vocabulary)."""
    import keras

    kinds = tuple(getattr(keras.layers, name) for name in
                  ("StringLookup", "IntegerLookup", "TextVectorization") if hasattr(keras.layers, name))
    return [layer for layer in _layers(model) if isinstance(layer, kinds)]


def text_inputs(model, signature):
    from keras import tree

    from kerasexport import signatures
    from kerasexport.verify import is_text

    names = signatures.input_names(model, signature)
    return [name for name, spec in zip(names, tree.flatten(signature)) if is_text(spec.dtype)]


def shape_bound_layers(model):
    """Layers whose exported graph commonly depends on the traced length."""
    return [_label(layer) for layer in recurrent_layers(model, free_only=False)]


def layers_for_ops(model, text):
    """The model's layers behind the ops a converter or runtime refused, as
    far as their names tell."""
    if any(op in text for op in ("TensorList", "Flex", "While", "Loop", "Scan")):
        return [_label(layer) for layer in recurrent_layers(model, free_only=False)]
    if any(op in text for op in ("HashTable", "LookupTable", "hash_table", "string")):
        return [_label(layer) for layer in text_layers(model) + lookup_layers(model)]
    return []


def alternatives(model, format, backend):
    """Formats that express this model, best first (without ``format``)."""
    if text_layers(model):
        return [f for f in ("tf_saved_model", "litert", "onnx") if f != format]
    return [f for f in _GENERAL_FORMATS if f != format]


def alternatives_hint(model, format, backend):
    others = alternatives(model, format, backend)
    listed = " or ".join(f'format = "{f}"' for f in others)
    return (f"Export with {listed} instead" + (", from the tensorflow backend" if text_layers(model)
                                              else "") + ".") if others else None


def check(model, format, backend, signature):
    """Refuse, before anything is written, a combination that no backend
    can write."""
    text = text_inputs(model, signature)
    if text:
        _check_text(model, format, backend, text)
    recurrent = recurrent_layers(model, signature)
    if recurrent and format in ("litert", "torch"):
        _refuse_free_time(model, format, backend, recurrent)


def _check_text(model, format, backend, inputs):
    layers = [_label(layer) for layer in text_layers(model)] or [f"input {n!r}" for n in inputs]
    if backend != "tensorflow":
        raise UnsupportedCombinationError(
            f"The model takes text (input {', '.join(repr(n) for n in inputs)}, read by "
            f"{', '.join(layers)}), and Keras' {backend} backend has no text tensors to trace "
            "it with: only the tensorflow backend exports text models.",
            hint="Build and export the model with KERAS_BACKEND=tensorflow; "
                 'format = "tf_saved_model", "litert" and "onnx" all take text there.',
            format=format, backend=backend, layers=layers, backends=["tensorflow"],
            alternatives=["tf_saved_model", "litert", "onnx"])
    cannot = {"torch": "PyTorch has no text tensors",
              "openvino": "OpenVINO's TensorFlow reader has no lookup tables (hash tables)"}
    if format in cannot:
        raise UnsupportedCombinationError(
            f"{', '.join(layers)} cannot be expressed as {format!r}: {cannot[format]}.",
            hint='Export with format = "tf_saved_model" (TF-Serving), "litert" or "onnx", which '
                 "hold the text lookups.",
            format=format, backend=backend, layers=layers,
            alternatives=["tf_saved_model", "litert", "onnx"])


_FREE_TIME = {
    "litert": "the LiteRT converter keeps a loop over a time axis of any length only as "
              "TensorFlow (Flex) ops, which the LiteRT runtime does not have",
    "torch": "torch.export unrolls Keras' recurrent loop over the time steps it traces, so the "
             "program would be right at one length only",
    "openvino": "OpenVINO reads the loop of an LSTM over a time axis of any length, but not "
                "the loop that TensorFlow and tf2onnx write for this layer",
}


def _refuse_free_time(model, format, backend, layers):
    raise free_time_error(model, format, backend, layers)


def free_time_error(model, format, backend, layers):
    """The classed error for recurrent ``layers`` whose time axis of any
    length ``format`` cannot hold."""
    labels = [_label(layer) for layer in layers]
    others = [f for f in ("tf_saved_model", "onnx", "openvino") if f != format]
    return UnsupportedCombinationError(
        f"{', '.join(labels)} read(s) a time axis of any length, which {format!r} cannot "
        f"express: {_FREE_TIME[format]}.",
        hint="Give the time axis a fixed length in `input_signature` (for example "
             "input_signature = c(NA, 20, 8)), which this format then holds; or export with "
             + " or ".join(f'format = "{f}"' for f in others[:2]) + ", which keep it of any length.",
        format=format, backend=backend, layers=labels, alternatives=others)


def crossing_backend(model, format, backend, signature):
    """A backend to write ``format`` through instead of ``backend``, for a
    model this backend's exporter is known to get wrong; None to write it
    here."""
    if backend == "torch" and format in ("onnx", "openvino") and recurrent_layers(model, signature):
        # Keras' torch exporter traces the recurrent loop at one length and
        # declares the axis free (right at length 1 only); tf2onnx keeps the
        # loop.
        return "tensorflow"
    return None
