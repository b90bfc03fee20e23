"""The models the benchmarks export, built the same way from R and Python."""

import keras


def dense(units, seed, **kwargs):
    """A Dense layer with seeded weights. (keras.utils.set_random_seed()
    would import TensorFlow whenever it is installed, and the cold-start
    benchmark reports which heavy modules each path imports.)"""
    return keras.layers.Dense(
        units, kernel_initializer=keras.initializers.GlorotUniform(seed=seed), **kwargs)


def small_mlp():
    return keras.Sequential([
        keras.Input((4,), name="features"),
        dense(16, 1, activation="relu"),
        dense(3, 2, activation="softmax", name="species"),
    ])


def medium_mlp():
    """The small MLP's input and output, with enough work in between
    (about 0.3 M parameters) that a batch's compute is not dwarfed by the
    cost of calling in from R."""
    return keras.Sequential([
        keras.Input((4,), name="features"),
        dense(512, 1, activation="relu"),
        dense(512, 2, activation="relu"),
        dense(3, 3, activation="softmax", name="species"),
    ])


def large_mlp():
    """About 50 M parameters (200 MB of float32 weights)."""
    return keras.Sequential([
        keras.Input((4096,), name="features"),
        dense(4096, 1, activation="relu"),
        dense(4096, 2, activation="relu"),
        dense(4096, 3, activation="relu"),
        dense(10, 4, name="scores"),
    ])


def call_once(model):
    import numpy as np

    model(np.zeros((1, model.inputs[0].shape[1]), dtype="float32"))


BUILDERS = {"small_mlp": small_mlp, "medium_mlp": medium_mlp, "large_mlp": large_mlp}


def weight_bytes(model):
    return int(sum(v.numpy().nbytes for v in model.weights))


def formats_for_backend(backend):
    return ["onnx"] if backend == "torch" else ["tf_saved_model", "onnx"]


def artifact_path(directory, format, tag):
    import os

    return os.path.join(directory, f"{tag}.onnx" if format == "onnx" else tag)
