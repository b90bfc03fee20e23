"""Export to TensorFlow SavedModel."""

from kerasexport import dependencies
from kerasexport.errors import UnsupportedCombinationError

FORMAT = "tf_saved_model"


def export(model, filepath, backend, verbose=None, input_signature=None, **kwargs):
    dependencies.require_for_export(backend, FORMAT)
    try:
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
