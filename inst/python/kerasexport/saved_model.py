"""Export to TensorFlow SavedModel."""

from kerasexport import dependencies
from kerasexport import signatures
from kerasexport.errors import UnsupportedCombinationError

FORMAT = "tf_saved_model"


def export(model, filepath, backend, verbose=None, input_signature=None,
           model_names=True, finish=None, **kwargs):
    """``finish``, when given, is called with the written folder."""
    dependencies.require_for_export(backend, FORMAT)
    _export(model, filepath, backend, verbose, input_signature, model_names, **kwargs)
    if finish is not None:
        finish(filepath)


def _export(model, filepath, backend, verbose, input_signature, model_names, **kwargs):
    try:
        _write_archive(model, filepath, verbose, input_signature, model_names, **kwargs)
    except Exception as error:
        if backend == "torch":
            # Keras 3.15 fails inside torch.export (dynamic_shapes mismatch)
            # for every model; say so, and what works today.
            raise UnsupportedCombinationError(
                "Keras cannot export a torch-backend model to 'tf_saved_model' "
                f"({type(error).__name__}: {str(error).splitlines()[0]}).",
                hint="Export to ONNX instead (format = \"onnx\"), or train and "
                "export with the TensorFlow or JAX backend.",
                backend=backend,
                format=FORMAT,
                alternative="onnx",
            ) from error
        raise


def _write_archive(model, filepath, verbose, input_signature, model_names, **kwargs):
    """What ``keras.Model.export`` does (its ``serve`` endpoint, as Keras
    documents it), plus, with ``model_names``, a ``serving_default``
    signature whose inputs and outputs carry the model's names, and with each
    weight stored once.

    Keras names the signature's tensors ``args_0``/``output_0``
    (keras-team/keras#19458), which TF-Serving clients cannot know.
    """
    from keras.src.export.export_utils import get_input_signature
    from keras.src.export.saved_model import DEFAULT_ENDPOINT_NAME
    from keras.src.export.saved_model import ExportArchive

    if input_signature is None:
        input_signature = get_input_signature(model)
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
    # the saver traces it again in its own context (see _write_archive()).
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
