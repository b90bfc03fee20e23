"""Run an exported artifact in a fresh process, without Keras and without the
model's code, the way its clients run it.

``python -m kerasexport.runtime --format F --artifact PATH --inputs IN.npz
--outputs OUT.npz`` runs the artifact through ``Predictor`` (its format's
runtime, its "serving_default" endpoint, inputs by position) and reports, as
JSON on stdout, which heavy modules the run imported. The process starts
from an empty folder with only this package on its path: nothing of the
model's code can be imported, which is what makes a successful run proof
that the artifact is standalone.
"""

import argparse
import json
import os
import subprocess
import sys
import warnings

import numpy as np


_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(args, cwd, env=None, timeout=None):
    """Run ``python -m <args>`` in a fresh process that imports this
    package from where it is installed, and capture its output."""
    env = dict(env or os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [_PACKAGE_PARENT] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with warnings.catch_warnings():
        # JAX warns at every fork; subprocess execs at once, which is safe.
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called",
                                category=RuntimeWarning)
        return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=timeout)


def save_arrays(path, arrays, prefix):
    np.savez(path, **{f"{prefix}_{i}": a for i, a in enumerate(arrays)})


def load_arrays(path, prefix):
    with np.load(path) as data:
        count = len([k for k in data.files if k.startswith(prefix + "_")])
        return [data[f"{prefix}_{i}"] for i in range(count)]


def run(path, format, inputs, input_names=(), output_names=()):
    """The artifact's outputs for ``inputs``, in the order of
    ``output_names`` when the artifact names its outputs so, else in its
    own order. ``inputs`` go by ``input_names`` when the artifact's inputs
    are named so (exporters order dict inputs differently), else by
    position."""
    from kerasexport.predictor import Predictor

    predictor = Predictor(path, format)
    expected = [t["name"] for t in predictor.signature()["inputs"]]
    if input_names and sorted(input_names) == sorted(expected):
        feed = dict(zip(input_names, inputs))
    else:
        feed = list(inputs) if len(inputs) > 1 else inputs[0]
    outputs = predictor.predict(feed)
    names = output_names if output_names and set(output_names) == set(outputs) \
        else predictor.output_names()
    return [np.asarray(outputs[name]) for name in names]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kerasexport.runtime")
    parser.add_argument("--format", required=True)
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--outputs", required=True)
    parser.add_argument("--input-names", default="[]", help="JSON list")
    parser.add_argument("--output-names", default="[]", help="JSON list")
    args = parser.parse_args(argv)
    outputs = run(args.artifact, args.format, load_arrays(args.inputs, "input"),
                  json.loads(args.input_names), json.loads(args.output_names))
    save_arrays(args.outputs, outputs, "output")
    report = {
        "outputs": len(outputs),
        "modules": sorted({name.split(".")[0] for name in sys.modules}
                          & {"keras", "tensorflow", "onnxruntime", "torch", "jax", "openvino",
                             "ai_edge_litert"}),
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
