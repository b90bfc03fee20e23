"""Export to the formats kerasexport has no special handling for (OpenVINO,
LiteRT, torch ExportedProgram, and whatever later Keras releases add): Keras
does the work and raises its own errors."""


def export(model, filepath, backend, format, verbose=None, input_signature=None, **kwargs):
    model.export(filepath, format=format, verbose=verbose,
                 input_signature=input_signature, **kwargs)
