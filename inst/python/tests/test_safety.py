import os
import subprocess
import sys

from conftest import backend
from kerasexport import describe_artifact
from kerasexport import export_model
from kerasexport.export import remove_stale_staging
from kerasexport.scrub import Finder


def test_stale_staging_of_dead_processes_is_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".model.onnx.kerasexport-{dead}-abc"
    live = tmp_path / f".model.onnx.kerasexport-{os.getpid()}-def"
    stale.mkdir()
    live.mkdir()
    assert remove_stale_staging(str(tmp_path / "model.onnx")) == [stale.name]
    assert live.exists()


def test_finder_sees_local_folders_and_source_locations():
    finder = Finder()
    assert finder.kinds(f'File "{os.path.expanduser("~")}/x.py", line 3')
    assert finder.kinds(os.path.join(sys.prefix, "lib"))
    assert not finder.kinds("/dense/MatMul")  # torch node names look like paths
    assert "<local>" in finder.clean(os.path.join(sys.prefix, "lib"))


def test_onnx_artifacts_keep_no_local_paths(tmp_path, small_model):
    path = str(tmp_path / "m.onnx")
    result = export_model(small_model, path, format="onnx", verbose=True)
    data = open(path, "rb").read()
    for local in (sys.prefix, os.path.expanduser("~"), str(tmp_path)):
        assert local.encode() not in data
    info = describe_artifact(path)
    assert info["kerasexport"]["local_information_removed"] == result["local_information_removed"]
    if backend() == "torch":  # its exporter writes source locations with verbose=True
        assert result["local_information_removed"]
