"""Faults an unlucky user meets, made on purpose: damaged artifacts, exports
killed between two renames, two exports racing to one new path, folders
that cannot be written to. Real files, real processes, real signals."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import PACKAGE_PARENT
from conftest import backend  # noqa: F401 (skipif conditions)
from conftest import artifact_name
from conftest import backend_formats  # noqa: F401 (skipif conditions)
from kerasexport import describe_artifact
from kerasexport import export_model
from kerasexport import load_artifact
from kerasexport import placement
from kerasexport.errors import KerasExportError


def _damaged(error):
    return error.r_class == ["damaged_artifact", "artifact"]


@pytest.mark.skipif("'tf_saved_model' not in backend_formats()")
def test_damaged_saved_models_are_named_as_such(tmp_path, small_model):
    path = tmp_path / "model"
    export_model(small_model, str(path), verbose=False)
    without_variables = tmp_path / "no-variables"
    shutil.copytree(path, without_variables)
    shutil.rmtree(without_variables / "variables")
    garbage = tmp_path / "garbage"
    shutil.copytree(path, garbage)
    (garbage / "saved_model.pb").write_bytes(b"\x00not a protocol buffer" * 20)
    for broken, what in ((without_variables, "variables/variables.index"),
                         (garbage, "saved_model.pb")):
        for read in (describe_artifact, load_artifact):
            with pytest.raises(KerasExportError) as caught:
                read(str(broken))
            assert _damaged(caught.value), caught.value.r_class
            assert str(broken) in caught.value.message and what in caught.value.message


def test_damaged_files_are_named_as_such(tmp_path, small_model):
    path = tmp_path / "model.onnx"
    export_model(small_model, str(path), format="onnx", verbose=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(KerasExportError) as caught:
        describe_artifact(str(path))
    assert _damaged(caught.value) and str(path) in caught.value.message


def test_an_export_killed_between_two_renames_loses_nothing(tmp_path, small_model):
    """The fallback without RENAME_EXCHANGE moves the old artifact aside,
    then the new one in; killed in between, the next call puts the old one
    back."""
    path = tmp_path / "model.onnx"
    export_model(small_model, str(path), format="onnx", verbose=False)
    before = path.read_bytes()
    staging, lock = placement.make_staging(str(path))
    new = os.path.join(staging, "model.onnx")
    shutil.copy(path, new)
    script = f"""
import os, sys
sys.path.insert(0, {PACKAGE_PARENT!r})
from kerasexport import placement
placement._rename = lambda *a: False  # as on a system without renameat2
real = os.rename
def rename(source, target):
    real(source, target)
    if "previous" in target:
        os.kill(os.getpid(), 9)  # SIGKILL right after the old one moved aside
os.rename = rename
placement.place({staging!r}, [({new!r}, {str(path)!r})], [{str(path)!r}], {str(path)!r})
"""
    lock.close()  # the child stands for the exporting process
    child = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert child.returncode == -signal.SIGKILL
    assert not path.exists()  # the instant a killed fallback leaves...
    assert placement.recover(str(tmp_path)) == [os.path.basename(staging)]
    assert path.read_bytes() == before  # ...is undone by the next call
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]


def test_overwrite_keeps_an_artifact_at_the_path_at_every_instant(tmp_path, small_model):
    """Replacing exchanges the two (RENAME_EXCHANGE): a reader that looks
    all the time never finds the path empty or the artifact unreadable."""
    path = tmp_path / artifact_name("onnx")
    export_model(small_model, str(path), format="onnx", verbose=False)
    watcher = subprocess.Popen([sys.executable, "-c", f"""
import os, sys, time
sys.path.insert(0, {PACKAGE_PARENT!r})
from kerasexport import onnx_file
path, misses, looks, deadline = {str(path)!r}, 0, 0, time.time() + 60
while not os.path.exists(path + ".stop") and time.time() < deadline:
    looks += 1
    if not (os.path.exists(path) and onnx_file.is_onnx(path)):
        misses += 1
print(misses, looks)
"""], stdout=subprocess.PIPE, text=True)
    for _ in range(15):
        export_model(small_model, str(path), format="onnx", verbose=False, overwrite=True)
    (tmp_path / "model.onnx.stop").write_text("")
    misses, looks = map(int, watcher.communicate(timeout=60)[0].split())
    assert looks > 100 and misses == 0


@pytest.mark.skipif("backend() != 'tensorflow'", reason="placement is the same on every backend")
def test_two_exports_racing_to_a_new_path_one_wins_one_is_told(tmp_path):
    """With overwrite = FALSE, the export that places second gets "already
    exists", as for a folder, instead of replacing the first's file."""
    barrier = tmp_path / "go"
    script = f"""
import os, sys, time
sys.path.insert(0, {PACKAGE_PARENT!r})
import keras
from kerasexport import export_model
from kerasexport.errors import KerasExportError
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
model(keras.ops.zeros((1, 4)))
while not os.path.exists({str(barrier)!r}):
    time.sleep(0.001)
try:
    export_model(model, {str(tmp_path / 'race.onnx')!r}, format="onnx", verbose=False)
    print("placed")
except KerasExportError as error:
    print("refused:" + error.message)
"""
    for attempt in range(2):
        for leftover in tmp_path.iterdir():
            leftover.unlink() if leftover.is_file() else shutil.rmtree(leftover)
        children = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                     text=True, env=dict(os.environ, PYTHONPATH=PACKAGE_PARENT))
                    for _ in range(2)]
        time.sleep(8)  # both have imported Keras and wait at the barrier
        barrier.write_text("")
        results = sorted(c.communicate(timeout=120)[0].strip().splitlines()[-1] for c in children)
        assert results[0] == "placed" and results[1].startswith("refused:"), results
        assert "already exists" in results[1]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["go", "race.onnx"]


def test_a_folder_that_cannot_be_written_to_is_named_not_the_staging_folder(tmp_path, small_model):
    for folder in ("/proc", "/sys/kernel"):
        path = os.path.join(folder, "model.onnx")
        with pytest.raises(KerasExportError) as caught:
            export_model(small_model, path, format="onnx", verbose=False)
        assert caught.value.r_class == "artifact"
        assert ".kerasexport-" not in caught.value.message
        assert repr(path) in caught.value.message


@pytest.mark.skipif("backend() != 'tensorflow'", reason="placement is the same on every backend")
def test_a_killed_export_leaves_no_process_and_its_leftovers_go_at_the_next_export(tmp_path):
    """Exports killed with SIGKILL three times leave their staging folders;
    the next export into that folder, to any path, removes every one."""
    script = f"""
import sys
sys.path.insert(0, {PACKAGE_PARENT!r})
import keras
from kerasexport import export_model
model = keras.Sequential([keras.Input((2000,)), keras.layers.Dense(3000), keras.layers.Dense(3000)])
model(keras.ops.zeros((1, 2000)))
print("ready", flush=True)
for i in range(50):
    export_model(model, {str(tmp_path / 'big.onnx')!r}, format="onnx", verbose=False,
                 overwrite=True)
"""
    for _ in range(3):
        exporter = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                    text=True, env=dict(os.environ, PYTHONPATH=PACKAGE_PARENT))
        assert exporter.stdout.readline().strip() == "ready"
        deadline = time.time() + 60
        while not any(".kerasexport-" in p.name for p in tmp_path.iterdir()):
            assert time.time() < deadline
            time.sleep(0.01)
        exporter.kill()
        exporter.wait()
    assert any(".kerasexport-" in p.name for p in tmp_path.iterdir())
    import keras

    small = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    small(keras.ops.zeros((1, 4)))
    export_model(small, str(tmp_path / "other.onnx"), format="onnx", verbose=False)
    assert not any(".kerasexport-" in p.name for p in tmp_path.iterdir())
    assert json.dumps(sorted(p.name for p in tmp_path.iterdir())) in (
        '["big.onnx", "other.onnx"]', '["other.onnx"]')
