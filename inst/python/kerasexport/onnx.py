"""Export to ONNX."""

from kerasexport import dependencies

FORMAT = "onnx"


def export(model, filepath, backend, verbose=None, input_signature=None, **kwargs):
    dependencies.require_for_export(backend, FORMAT)
    model.export(filepath, format=FORMAT, verbose=verbose,
                 input_signature=input_signature, **kwargs)
