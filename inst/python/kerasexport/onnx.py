"""Export to ONNX."""

from kerasexport import dependencies

FORMAT = "onnx"


def export(model, filepath, backend, verbose=None, input_signature=None, **kwargs):
    dependencies.require_for_export(backend, FORMAT)
    model.export(filepath, format=FORMAT, verbose=verbose,
                 input_signature=input_signature, **kwargs)
    if backend == "tensorflow":
        embed_captured_constants(filepath, model, input_signature)


def _tf_input_signature(model, input_signature):
    from keras import tree
    from keras.src.export.export_utils import get_input_signature
    from keras.src.export.export_utils import make_tf_tensor_spec

    if input_signature is None:
        input_signature = get_input_signature(model)
    return tree.map_structure(make_tf_tensor_spec, input_signature)


def embed_captured_constants(filepath, model, input_signature=None):
    """Make the ONNX graph standalone when tf2onnx left captured tensors as
    graph inputs.

    A traced TensorFlow function captures the tensors it reads from outside.
    Variables become constants, but tf2onnx turns captured plain tensors (the
    mean and variance of an adapted Normalization layer, for one) into extra
    graph *inputs*, so onnxruntime would demand them at every call. We trace
    the same function Keras exported, take those tensors' values, and move
    them into the graph as initializers. Returns the names moved.
    """
    import onnx
    from keras import tree
    from keras.src.export.onnx import get_concrete_fn

    graph_model = onnx.load(filepath)
    signature = _tf_input_signature(model, input_signature)
    if len(graph_model.graph.input) <= len(tree.flatten(signature)):
        return []
    concrete = get_concrete_fn(model, signature).get_concrete_function(*signature)
    captured = {
        placeholder.name: value
        for placeholder, value in zip(concrete.graph.internal_captures, concrete.captured_inputs)
        if value.dtype.name != "resource"
    }
    moved = []
    for graph_input in list(graph_model.graph.input):
        if graph_input.name in captured:
            value = captured[graph_input.name].numpy()
            graph_model.graph.initializer.append(
                onnx.numpy_helper.from_array(value, name=graph_input.name))
            graph_model.graph.input.remove(graph_input)
            moved.append(graph_input.name)
    if moved:
        onnx.save(graph_model, filepath)
    return moved
