"""The processes kept warm for verifying and crossing: reused, restarted when
one dies, never loading Keras for a runtime's job, and gone when their
parent is."""

import os
import signal
import subprocess
import sys
import time

from conftest import PACKAGE_PARENT
from kerasexport import export_model
from kerasexport import verify
from kerasexport import workers


def test_a_runtime_worker_is_reused_and_imports_no_keras(tmp_path, small_model):
    path = str(tmp_path / "m.onnx")
    export_model(small_model, path, format="onnx", verbose=False)
    first = verify(path, None, small_model)
    pid = workers._workers[("runtime", "onnx")].process.pid
    second = verify(path, None, small_model)
    assert workers._workers[("runtime", "onnx")].process.pid == pid
    assert first["fresh_process_modules"] == second["fresh_process_modules"] == ["onnxruntime"]


def test_a_dead_worker_is_named_and_replaced(tmp_path, small_model):
    path = str(tmp_path / "m.onnx")
    export_model(small_model, path, format="onnx", verbose=False)
    verify(path, None, small_model)
    worker = workers._workers[("runtime", "onnx")]
    worker.process.kill()
    worker.process.wait()
    # The next job starts a new worker rather than writing to a dead one.
    assert verify(path, None, small_model)["passed"]
    assert workers._workers[("runtime", "onnx")].process.pid != worker.process.pid


def test_fresh_processes_on_request(tmp_path, small_model, monkeypatch):
    path = str(tmp_path / "m.onnx")
    export_model(small_model, path, format="onnx", verbose=False)
    monkeypatch.setenv("KERASEXPORT_FRESH_PROCESSES", "1")
    before = dict(workers._workers)
    assert verify(path, None, small_model)["passed"]
    assert workers._workers == before


def test_workers_end_with_their_parent(tmp_path):
    """kill -9 of the process that started a worker ends the worker too."""
    script = f"""
import sys
sys.path.insert(0, {PACKAGE_PARENT!r})
from kerasexport import workers
worker = workers._worker("runtime", "onnx", {{}})
print(worker.process.pid, flush=True)
import time
time.sleep(120)
"""
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    os.kill(child, 0)  # it runs
    parent.kill()
    parent.wait()
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the worker outlived its parent")
