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
        if model_names:
            _export_with_named_signature(model, filepath, verbose, input_signature, **kwargs)
        else:
            model.export(filepath, format=FORMAT, verbose=verbose,
                         input_signature=input_signature, **kwargs)
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


def _export_with_named_signature(model, filepath, verbose, input_signature, **kwargs):
    """What ``keras.Model.export`` does, plus a ``serving_default`` signature
    whose inputs and outputs carry the model's names.

    Keras names the signature's tensors ``args_0``/``output_0``
    (keras-team/keras#19458), which TF-Serving clients cannot know. The
    ``serve`` endpoint Keras documents is kept as it is.
    """
    import keras
    from keras import tree
    from keras.src.export.export_utils import get_input_signature
    from keras.src.export.saved_model import DEFAULT_ENDPOINT_NAME
    from keras.src.export.saved_model import ExportArchive

    if input_signature is None:
        input_signature = get_input_signature(model)
    names = signatures.input_names(model, input_signature)
    flat_specs = tree.flatten(input_signature)
    named_specs = {
        name: keras.InputSpec(shape=tuple(spec.shape), dtype=_dtype_name(spec.dtype), name=name)
        for name, spec in zip(names, flat_specs)
    }

    def serving_default(inputs):
        structured = tree.pack_sequence_as(input_signature, [inputs[n] for n in names])
        args = structured[0] if len(structured) == 1 else structured
        outputs = tree.flatten(model(args, training=False))
        return dict(zip(signatures.output_names(model, len(outputs)), outputs))

    archive = ExportArchive()
    archive.track_and_add_endpoint(DEFAULT_ENDPOINT_NAME, model, input_signature, **kwargs)
    archive.add_endpoint("serving_default", serving_default, [named_specs], **kwargs)
    archive.write_out(filepath, verbose=True if verbose is None else verbose)


def _dtype_name(dtype):
    return getattr(dtype, "name", None) or str(dtype)
