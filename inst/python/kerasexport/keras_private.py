"""Keras' private API, in one place. kerasexport uses a few things that
Keras 3.15 keeps under ``keras.src``: a Keras upgrade has this module to
check, and nothing else. It also holds the mends for Keras bugs that would
make an exported graph wrong (``export_fixes``)."""

import contextlib


def input_signature(model):
    """The model's inputs as Keras' exporters structure them (InputSpecs)."""
    from keras.src.export.export_utils import get_input_signature

    return get_input_signature(model)


def tf_tensor_spec(spec):
    from keras.src.export.export_utils import make_tf_tensor_spec

    return make_tf_tensor_spec(spec)


def export_archive():
    """(ExportArchive, the name of Keras' default endpoint, "serve")."""
    from keras.src.export.saved_model import DEFAULT_ENDPOINT_NAME
    from keras.src.export.saved_model import ExportArchive

    return ExportArchive, DEFAULT_ENDPOINT_NAME


def tf_function(model, signature):
    """The tf.function Keras' ONNX exporter traces for the TensorFlow backend."""
    from keras.src.export.onnx import get_concrete_fn

    return get_concrete_fn(model, signature)


def export_function(format):
    """Keras' export_<format> function, or None."""
    from keras.src import export as keras_export

    name = "export_saved_model" if format == "tf_saved_model" else f"export_{format}"
    return getattr(keras_export, name, None)


def export_function_formats():
    """Format names, from Keras' export_<format> functions."""
    from keras.src import export as keras_export

    names = [n[len("export_"):] for n in dir(keras_export) if n.startswith("export_")]
    return tuple("tf_saved_model" if n == "saved_model" else n for n in sorted(names))


def endpoint_kwargs_doc():
    """The docstring of ExportArchive.add_endpoint, which lists the keyword
    arguments endpoints accept."""
    import inspect

    ExportArchive, _ = export_archive()
    return inspect.getdoc(ExportArchive.add_endpoint) or ""


def layers(model):
    """Every layer inside ``model``, nested ones included."""
    return list(model._flatten_layers(include_self=False, recursive=True))


@contextlib.contextmanager
def export_fixes(model, format=None, signature=None):
    """Mend, for the export's trace only, what in Keras 3.15 would make the
    exported graph wrong, or the format unable to hold it:

    * a recurrent layer over a time axis of fixed length is traced as a
      loop (TensorFlow's while loop over TensorLists), which LiteRT runs
      only with TensorFlow's Flex ops and OpenVINO cannot read: for those
      formats it is unrolled (``unroll = True``), the same computation
      written out step by step;

    * ``TimeDistributed`` over a time axis of any length maps its layer over
      ``arange(batch size)`` instead of ``arange(time steps)`` in a traced
      graph (TensorFlow), so the artifact silently returns as many time
      steps as there are instances; on JAX's symbolic shapes it fails
      ("'_DimExpr' object cannot be interpreted as an integer").
    """
    with contextlib.ExitStack() as fixes:
        if format in ("litert", "openvino"):
            fixes.enter_context(_unrolled(model, signature))
        fixes.enter_context(_time_distributed_fixed(model))
        yield


@contextlib.contextmanager
def _unrolled(model, signature):
    from kerasexport import limits

    if signature is None or limits.recurrent_layers(model, signature):
        yield  # a time axis of any length cannot be unrolled
        return
    rnns = [layer for layer in limits.recurrent_layers(model, free_only=False)]
    inner = []
    for layer in rnns:
        inner += [layer] if hasattr(layer, "unroll") else [
            sub for sub in (getattr(layer, "forward_layer", None),
                            getattr(layer, "backward_layer", None)) if sub is not None]
    saved = [(layer, layer.unroll) for layer in inner]
    if not saved:
        yield
        return
    for layer, _ in saved:
        layer.unroll = True
    # TensorFlow's saver also traces the model's own default signature, with
    # the model's input shape, where the time axis is of any length and an
    # unrolled layer cannot be traced; the artifact's signatures are the
    # export's, so that one is not needed.
    layer_class = _tf_layer_class()
    default_signature = getattr(layer_class, "_default_save_signature", None) if layer_class else None
    if default_signature is not None:
        layer_class._default_save_signature = property(lambda self: None)
    try:
        yield
    finally:
        for layer, unroll in saved:
            layer.unroll = unroll
        if default_signature is not None:
            layer_class._default_save_signature = default_signature


def _tf_layer_class():
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    from keras.src.backend.tensorflow.layer import TFLayer

    return TFLayer


@contextlib.contextmanager
def _time_distributed_fixed(model):
    from keras.src.layers.rnn.time_distributed import TimeDistributed

    if not any(isinstance(layer, TimeDistributed) for layer in layers(model)):
        yield
        return
    original = TimeDistributed.call

    def call(self, inputs, training=None, mask=None):
        rest = tuple(inputs.shape[2:])
        if isinstance(inputs.shape[1], int) or not all(isinstance(d, int) for d in rest):
            return original(self, inputs, training=training, mask=mask)
        from keras import backend
        from keras import ops

        kwargs = {"training": training} if self.layer._call_has_training_arg else {}
        with_mask = self.layer._call_has_mask_arg and mask is not None
        if backend.backend() == "jax":
            # Map over the time axis itself: jax2onnx cannot trace Keras'
            # arange() over a symbolic length, nor a reshape to one.
            import jax

            if with_mask:
                return jax.vmap(lambda x, m: self.layer.call(x, mask=m, **kwargs),
                                in_axes=1, out_axes=1)(inputs, mask)
            return jax.vmap(lambda x: self.layer.call(x, **kwargs), in_axes=1, out_axes=1)(inputs)
        # Every time step of every instance is one instance of the wrapped
        # layer: (batch, time, ...) to (batch * time, ...) and back.
        steps = ops.shape(inputs)[1]
        if with_mask:
            kwargs["mask"] = ops.reshape(mask, (-1, *tuple(mask.shape[2:])))
        outputs = self.layer.call(ops.reshape(inputs, (-1, *rest)), **kwargs)
        return ops.reshape(outputs, (-1, steps, *tuple(outputs.shape[1:])))

    TimeDistributed.call = call
    try:
        yield
    finally:
        TimeDistributed.call = original
