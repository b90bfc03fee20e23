"""Keras' private API, in one place. kerasexport uses a few things that
Keras 3.15 keeps under ``keras.src``: a Keras upgrade has this module to
check, and nothing else."""


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
