"""Run an exported artifact in another Python process, without Keras and without the
model's code, the way its clients run it.

``handle`` is the job of a runtime worker (see ``workers``): it runs the
artifact through ``Predictor`` (its format's runtime, its "serving_default"
endpoint) and reports which heavy modules the process has imported. The
process starts from an empty folder with only this package on its path and
never loads a model file or Keras' model code: nothing of the model's code
can be imported there, which is what makes a successful run proof that the
artifact is standalone. ``python -m kerasexport.runtime --format F
--artifact PATH --inputs IN.npz --outputs OUT.npz`` does the same once.
"""

import argparse
import json
import sys

import numpy as np


def save_arrays(path, arrays, prefix):
    # Text goes as fixed-width unicode, which .npz holds without pickling.
    np.savez(path, **{f"{prefix}_{i}": np.asarray(a, dtype=str) if np.asarray(a).dtype.kind in "OSU"
                      else a for i, a in enumerate(arrays)})


def load_arrays(path, prefix):
    with np.load(path) as data:
        count = len([k for k in data.files if k.startswith(prefix + "_")])
        return [data[f"{prefix}_{i}"] for i in range(count)]


def run(path, format, inputs, input_names=(), output_names=()):
    """The outputs of the artifact at ``path`` for ``inputs`` (see
    ``run_predictor``)."""
    from kerasexport.predictor import Predictor

    return run_predictor(Predictor(path, format), inputs, input_names, output_names)


def run_predictor(predictor, inputs, input_names=(), output_names=()):
    """The predictor's outputs for ``inputs``, in the order of
    ``output_names`` when the artifact names its outputs so, else in its
    own order. ``inputs`` go by ``input_names`` when the artifact's inputs
    are named so (exporters order dict inputs differently), else by
    position."""
    expected = [t["name"] for t in predictor.signature()["inputs"]]
    if input_names and sorted(input_names) == sorted(expected):
        feed = dict(zip(input_names, inputs))
    else:
        feed = list(inputs) if len(inputs) > 1 else inputs[0]
    outputs = predictor.predict(feed)
    names = output_names if output_names and set(output_names) == set(outputs) \
        else predictor.output_names()
    return [np.asarray(outputs[name]) for name in names]


def handle(request):
    """Run one artifact as ``verify`` asks (a worker's job, see
    ``workers``): inputs from and outputs to .npz files; reply with which
    heavy modules this process has imported, or with the error."""
    from kerasexport.errors import KerasExportError
    from kerasexport.errors import first_lines

    try:
        outputs = run(request["artifact"], request["format"], load_arrays(request["inputs"], "input"),
                      request.get("input_names", []), request.get("output_names", []))
    except KerasExportError as error:
        return {"ok": False, "r_class": error.r_class, "message": error.message,
                "hint": error.hint, "fields": json.loads(json.dumps(error.fields, default=str))}
    except Exception as error:  # the runtime's own refusal: its words, one line
        return {"ok": False, "r_class": "artifact",
                "message": f"{type(error).__name__}: {first_lines(error, 3, 600)}"}
    save_arrays(request["outputs"], outputs, "output")
    return {
        "ok": True,
        "outputs": len(outputs),
        "modules": sorted({name.split(".")[0] for name in sys.modules}
                          & {"keras", "tensorflow", "onnxruntime", "torch", "jax", "openvino",
                             "ai_edge_litert"}),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kerasexport.runtime")
    parser.add_argument("--format", required=True)
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--outputs", required=True)
    parser.add_argument("--input-names", default="[]", help="JSON list")
    parser.add_argument("--output-names", default="[]", help="JSON list")
    args = parser.parse_args(argv)
    report = handle({"artifact": args.artifact, "format": args.format, "inputs": args.inputs,
                     "outputs": args.outputs, "input_names": json.loads(args.input_names),
                     "output_names": json.loads(args.output_names)})
    sys.stdout.flush()
    sys.stdout.write("\n" + json.dumps(report) + "\n")


def failure_in_fresh_process(report, log, path, shown_path, format):
    """The error for a process that could not run the artifact: the one it
    reported (a kerasexport error keeps its class), else the last thing it
    wrote (``log``: it crashed); never a traceback, and never the staging
    path."""
    from kerasexport.errors import ArtifactError
    from kerasexport.errors import KerasExportError

    def shown(text):
        return text.replace(path, shown_path) if text else text

    if report is None or report.get("ok", True):
        lines = [line for line in (log or "").strip().splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else "it exited without a word"
        return ArtifactError(
            f"The artifact at {shown_path!r} failed to run in a fresh Python process "
            f"({shown(reason)[:600]}).", path=shown_path, format=format)
    fields = {k: shown(v) if isinstance(v, str) else v for k, v in report.get("fields", {}).items()}
    fields.setdefault("path", shown_path)
    fields.setdefault("format", format)
    message = shown(report["message"])
    if report["r_class"] == "artifact" and not message.startswith("The artifact"):
        message = (f"The artifact at {shown_path!r} failed to run in its runtime, in a fresh "
                   f"Python process ({message}).")
    error = KerasExportError(message, hint=shown(report.get("hint")), **fields)
    error.r_class = report["r_class"]
    return error


if __name__ == "__main__":
    main()
