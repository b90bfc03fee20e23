"""Deployment folders, validated with what the target projects publish:
Triton's config.pbtxt parsed by Triton's own protobuf definitions
(tritonclient), KServe's InferenceService built with KServe's own Python
models (the kserve SDK), both from .venv-clients; the folders' artifacts
loaded by the runtimes the servers use."""

import json
import os
import subprocess

import numpy as np
import pytest

from conftest import REPO
from conftest import backend
from conftest import make_iris_model
from kerasexport import export_model
from kerasexport import write_deployment
from kerasexport.errors import ArtifactError
from kerasexport.errors import KerasExportError
from kerasexport.predictor import Predictor

CLIENTS_PYTHON = os.path.join(REPO, ".venv-clients", "bin", "python")
pytestmark = [
    pytest.mark.skipif(backend() != "tensorflow", reason="needs a SavedModel; once is enough"),
    pytest.mark.skipif(not os.path.exists(CLIENTS_PYTHON), reason="no .venv-clients"),
]

VALIDATE = r"""
import json, sys
import yaml

# One of the two per process: both register the same protobuf symbols.
kind, path = sys.argv[1], sys.argv[2]
if kind == "triton":
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    config = text_format.Parse(open(path).read(), model_config_pb2.ModelConfig())
    print(json.dumps({"name": config.name, "backend": config.backend, "platform": config.platform,
                      "max_batch_size": config.max_batch_size,
                      "dynamic": config.HasField("dynamic_batching"),
                      "inputs": [[i.name, model_config_pb2.DataType.Name(i.data_type), list(i.dims)]
                                 for i in config.input],
                      "outputs": [[o.name, model_config_pb2.DataType.Name(o.data_type), list(o.dims)]
                                  for o in config.output]}))
else:
    import kserve

    def build(cls_name, data):
        # KServe's models, field by field: an unknown field is an error.
        cls = getattr(kserve, cls_name, None)
        if cls is None or not isinstance(data, dict):
            return data
        by_key = {v: k for k, v in cls.attribute_map.items()}
        kwargs = {}
        for key, value in data.items():
            if key not in by_key:
                raise SystemExit(f"{cls_name} has no field {key!r}")
            attr = by_key[key]
            kwargs[attr] = build(cls.openapi_types[attr], value)
        return cls(**kwargs)
    service = build("V1beta1InferenceService", yaml.safe_load(open(path)))
    print(json.dumps(service.to_dict(), default=str))
"""


def validate(kind, path):
    run = subprocess.run([CLIENTS_PYTHON, "-c", VALIDATE, kind, str(path)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    model = make_iris_model(8, hidden=None)
    folder = tmp_path_factory.mktemp("artifacts")
    paths = {}
    for format, file_name in (("tf_saved_model", "iris"), ("onnx", "iris.onnx"),
                              ("openvino", "iris.xml")):
        paths[format] = str(folder / file_name)
        export_model(model, paths[format], format=format, verbose=False)
    return model, paths


def test_triton_repositories_parse_with_tritons_protobufs(tmp_path, artifacts):
    model, paths = artifacts
    x = np.random.default_rng(0).random((3, 4)).astype("float32")
    for format, file_name in (("onnx", "model.onnx"), ("tf_saved_model", "model.savedmodel"),
                              ("openvino", "model.xml")):
        folder = tmp_path / format
        written = write_deployment(paths[format], str(folder), "triton", name="iris")
        config = validate("triton", folder / "iris" / "config.pbtxt")
        assert config["name"] == "iris" and config["max_batch_size"] == 32 and config["dynamic"]
        assert config["inputs"] == [["measurements", "TYPE_FP32", [4]]]
        assert config["outputs"] == [["species", "TYPE_FP32", [3]]]
        artifact = folder / "iris" / "1" / file_name
        np.testing.assert_allclose(
            Predictor(str(artifact)).predict(x)["species"], model.predict(x, verbose=0), atol=1e-5)
        assert any("tritonserver" in c for c in written["commands"])


def test_kserve_services_build_with_kserves_models(tmp_path, artifacts):
    _, paths = artifacts
    onnx = validate_kserve(tmp_path / "onnx", paths["onnx"], "s3://bucket/iris")
    model = onnx["spec"]["predictor"]["model"]
    assert model["model_format"]["name"] == "onnx" and model["protocol_version"] == "v2"
    assert model["storage_uri"] == "s3://bucket/iris"
    assert (tmp_path / "onnx" / "storage" / "model.onnx").is_file()
    saved = validate_kserve(tmp_path / "tf", paths["tf_saved_model"], None)
    assert saved["spec"]["predictor"]["model"]["model_format"]["name"] == "tensorflow"
    assert (tmp_path / "tf" / "storage" / "1" / "saved_model.pb").is_file()


def validate_kserve(folder, artifact, uri):
    write_deployment(artifact, str(folder), "kserve", storage_uri=uri)
    return validate("kserve", folder / "inferenceservice.yaml")


def test_tf_serving_folder_and_refusals(tmp_path, artifacts):
    _, paths = artifacts
    folder = tmp_path / "tfs"
    write_deployment(paths["tf_saved_model"], str(folder), "tf-serving", name="iris", version=3)
    assert (folder / "models" / "iris" / "3" / "saved_model.pb").is_file()
    dockerfile = (folder / "Dockerfile").read_text()
    assert dockerfile.startswith("FROM tensorflow/serving:2.") and "MODEL_NAME=iris" in dockerfile
    from kerasexport.repository import servable_versions

    assert servable_versions(str(folder / "models" / "iris")) == [3]
    with pytest.raises(KerasExportError, match="TF-Serving does not serve 'onnx'"):
        write_deployment(paths["onnx"], str(tmp_path / "no"), "tf-serving")
    with pytest.raises(ArtifactError, match="already exists"):
        write_deployment(paths["tf_saved_model"], str(folder), "tf-serving")
    (tmp_path / "mine").mkdir()
    with pytest.raises(ArtifactError, match="never replaced"):
        write_deployment(paths["onnx"], str(tmp_path / "mine"), "triton", overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["mine", "tfs"]
