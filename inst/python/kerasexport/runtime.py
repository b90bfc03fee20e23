"""Run an exported artifact without Keras and without the model's code.

``python -m kerasexport.runtime --format F --artifact PATH --inputs IN.npz
--outputs OUT.npz`` runs the artifact in a fresh process and reports, as JSON on
stdout, which heavy modules the run imported. The process starts from an empty
folder with only this package on its path: nothing of the model's code can be
imported, which is what makes a successful run proof that the artifact is
standalone.
"""

import argparse
import json
import sys

import numpy as np

from kerasexport import dependencies
from kerasexport.errors import ArtifactError

RUNNABLE_FORMATS = ("tf_saved_model", "onnx")


class SavedModelRunner:
    def __init__(self, path):
        (tf,) = dependencies.require_for_runtime("tf_saved_model")
        # Keep the loaded object referenced: its functions use its variables.
        self.loaded = tf.saved_model.load(path)
        self.function = self.loaded.serve
        # `serve` takes the model's input structure (one array, a list, a
        # dict): rebuild it from the flat inputs.
        self.structure = self.function.concrete_functions[0].structured_input_signature[0]
        self._tf = tf

    def run(self, inputs):
        tensors = [self._tf.constant(x) for x in inputs]
        args = self._tf.nest.pack_sequence_as(self.structure, tensors)
        outputs = self.function(*args)
        return [np.asarray(o) for o in self._tf.nest.flatten(outputs)]


class OnnxRunner:
    def __init__(self, path):
        (ort,) = dependencies.require_for_runtime("onnx")
        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def run(self, inputs):
        if len(inputs) != len(self.input_names):
            raise ArtifactError(
                f"The artifact has {len(self.input_names)} input(s) but "
                f"{len(inputs)} were given.")
        feed = dict(zip(self.input_names, inputs))
        return [np.asarray(o) for o in self.session.run(None, feed)]


def load(path, format):
    if format == "tf_saved_model":
        return SavedModelRunner(path)
    if format == "onnx":
        return OnnxRunner(path)
    raise ArtifactError(
        f"kerasexport cannot run {format!r} artifacts.",
        hint="Supported: " + ", ".join(repr(f) for f in RUNNABLE_FORMATS),
        format=format,
    )


def _save_arrays(path, arrays, prefix):
    np.savez(path, **{f"{prefix}_{i}": a for i, a in enumerate(arrays)})


def _load_arrays(path, prefix):
    with np.load(path) as data:
        count = len([k for k in data.files if k.startswith(prefix + "_")])
        return [data[f"{prefix}_{i}"] for i in range(count)]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kerasexport.runtime")
    parser.add_argument("--format", required=True)
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--outputs", required=True)
    args = parser.parse_args(argv)
    runner = load(args.artifact, args.format)
    outputs = runner.run(_load_arrays(args.inputs, "input"))
    _save_arrays(args.outputs, outputs, "output")
    report = {
        "outputs": len(outputs),
        "modules": sorted({name.split(".")[0] for name in sys.modules}
                          & {"keras", "tensorflow", "onnxruntime", "torch", "jax"}),
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
