import json
import os
import subprocess
import sys

import pytest

from conftest import HIDE_MODULES
from conftest import PACKAGE_PARENT
from conftest import backend
from kerasexport.dependencies import install_command

SCRIPT = """
import json, sys, tempfile, os, keras
from kerasexport import export_model
from kerasexport.errors import MissingDependencyError
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
path = os.path.join(tempfile.mkdtemp(), sys.argv[2])
try:
    export_model(model, path, format=sys.argv[1], verbose=False)
    result = {"error": None}
except MissingDependencyError as error:
    result = {"error": "missing", **error.fields}
result["modules"] = sorted(m for m in sys.modules if "." not in m)
print(json.dumps(result))
"""


def run_export(format, name, hidden=""):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([HIDE_MODULES, PACKAGE_PARENT])
    env["KERASEXPORT_HIDE_MODULES"] = hidden
    process = subprocess.run([sys.executable, "-c", SCRIPT, format, name], env=env,
                             capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-2000:]
    return json.loads(process.stdout.strip().splitlines()[-1])


def test_install_command_uses_the_pinned_version():
    assert install_command("tf2onnx").endswith("pip install 'tf2onnx==1.17.0'")


def test_missing_converter_is_named():
    hidden = {"tensorflow": "tf2onnx", "jax": "jax2onnx", "torch": "onnxscript"}[backend()]
    result = run_export("onnx", "m.onnx", hidden)
    assert result["error"] == "missing"
    assert result["module"] == hidden
    assert "pip install" in result["install"]


def test_torch_to_onnx_does_not_import_tensorflow():
    if backend() != "torch":
        pytest.skip("torch backend only")
    result = run_export("onnx", "m.onnx")
    assert result["error"] is None
    assert "torch" in result["modules"]
    assert "tensorflow" not in result["modules"]
