"""A torch model to a SavedModel, which Keras cannot write from torch:
kerasexport sends it as a .keras file to a fresh TensorFlow-backend process
and checks the result against the torch model. Baseline: the TensorFlow
backend's own export (Keras' model.export()) of the same weights, timed in a
TensorFlow process that already has the model; median of RUNS runs after a
warm-up. Prints JSON rows for bench/run.R.

Usage: KERAS_BACKEND=torch python bench/crossing.py <runs> [models]"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(os.path.dirname(HERE), "inst", "python")]
import models  # noqa: E402
from kerasexport import export_model  # noqa: E402

runs = int(sys.argv[1])
names = sys.argv[2].split(",") if len(sys.argv) > 2 else ["small_mlp", "large_mlp"]

BASELINE = """
import json, os, sys, time, shutil
import keras
model = keras.saving.load_model(sys.argv[1], compile=False)
times = []
for i in range(int(sys.argv[3]) + 1):
    shutil.rmtree(sys.argv[2], ignore_errors=True)
    started = time.perf_counter()
    model.export(sys.argv[2], verbose=False)
    if i:
        times.append(time.perf_counter() - started)
print(json.dumps(times))
"""

rows = []
work = tempfile.mkdtemp(prefix="kerasexport-bench-crossing-")
try:
    for name in names:
        model = models.BUILDERS[name]()
        models.call_once(model)
        keras_file = os.path.join(work, f"{name}.keras")
        model.save(keras_file)
        env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
        baseline = subprocess.run([sys.executable, "-c", BASELINE, keras_file,
                                   os.path.join(work, "baseline"), str(runs)],
                                  env=env, capture_output=True, text=True, check=True)
        tf_times = json.loads(baseline.stdout.strip().splitlines()[-1])
        ours = []
        for i in range(runs + 1):
            target = os.path.join(work, f"{name}-savedmodel")
            shutil.rmtree(target, ignore_errors=True)
            started = time.perf_counter()
            export_model(model, target, verbose=False)
            if i:
                ours.append(time.perf_counter() - started)
        tf_median, ours_median = statistics.median(tf_times), statistics.median(ours)
        rows.append({
            "benchmark": "export time, s: torch model to SavedModel through a fresh TensorFlow "
                         "process, checked against the torch model",
            "model": name, "baseline": "TensorFlow backend's own model.export() of the same weights",
            "baseline_value": tf_median, "value": ours_median, "target": "", "met": None})
finally:
    shutil.rmtree(work, ignore_errors=True)
print(json.dumps(rows))
