"""The baseline for verify_artifact(): what a careful user writes by hand to
check an artifact. Predict with the model, run the artifact in a fresh
Python process (so that nothing of the model's code is loaded there), and
compare the numbers."""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

RUN_ARTIFACT = """
import sys, numpy as np
path, format, inputs, outputs = sys.argv[1:]
x = np.load(inputs)["x"]
if format == "onnx":
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = session.run(None, {session.get_inputs()[0].name: x})[0]
else:
    import tensorflow as tf
    loaded = tf.saved_model.load(path)  # kept: its functions use its variables
    y = loaded.serve(tf.constant(x)).numpy()
np.save(outputs, y)
"""


def seconds(model, path, format, batch_size=3):
    started = time.perf_counter()
    x = np.random.default_rng(0).standard_normal((batch_size, model.inputs[0].shape[1])).astype("float32")
    expected = np.asarray(model.predict(x, verbose=0))
    with tempfile.TemporaryDirectory() as work:
        inputs = os.path.join(work, "inputs.npz")
        outputs = os.path.join(work, "outputs.npy")
        np.savez(inputs, x=x)
        process = subprocess.run(
            [sys.executable, "-c", RUN_ARTIFACT, path, format, inputs, outputs],
            cwd=work, capture_output=True, text=True,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        if process.returncode != 0:
            raise RuntimeError(process.stderr[-2000:])
        actual = np.load(outputs)
    assert np.allclose(expected, actual, atol=1e-5)
    return time.perf_counter() - started
