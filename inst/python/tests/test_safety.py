import os
import subprocess
import sys

from conftest import backend
from kerasexport import describe_artifact
from kerasexport import export_model
from kerasexport import placement
from kerasexport.scrub import Finder


def test_abandoned_staging_folders_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".model.onnx.kerasexport-{dead}-abc"  # made before the lock file
    stale.mkdir()
    other = tmp_path / f".other.xml.kerasexport-{dead}-ghi"  # another artifact's, same folder
    other.mkdir()
    live, lock = placement.make_staging(str(tmp_path / "model.onnx"))
    # A folder whose process ended holds a lock nobody has: abandoned, even
    # if its pid is alive again (reused).
    unlocked = tmp_path / f".model.onnx.kerasexport-{os.getpid()}-jkl"
    unlocked.mkdir()
    (unlocked / ".kerasexport-lock").write_text("")
    assert sorted(placement.recover(str(tmp_path))) == sorted([stale.name, other.name, unlocked.name])
    assert os.path.isdir(live)
    lock.close()
    assert placement.recover(str(tmp_path)) == [os.path.basename(live)]


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
