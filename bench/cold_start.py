"""Cold start, the Python side: a fresh interpreter that builds a model and
exports it, then reports the heavy modules it imported and its peak memory.
Usage: python bench/cold_start.py <model> <format> <path>"""

import json
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402

model = models.BUILDERS[sys.argv[1]]()
models.call_once(model)  # as after training; Keras' ONNX export needs it
model.export(sys.argv[3], format=sys.argv[2], verbose=False)
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "jax", "torch", "tf2onnx", "jax2onnx"})
print(json.dumps({"modules": heavy, "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
