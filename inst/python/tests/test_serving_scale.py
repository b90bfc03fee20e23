"""Several models in one server (names and paths, or TF-Serving's model
config file with version policies and labels), adaptive batching (merged
answers equal the answers given alone), and Prometheus metrics, parsed with
prometheus_client's own parser. Real server processes, real HTTP clients."""

import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from conftest import ServerProcess
from conftest import backend_formats
from conftest import free_port
from conftest import make_iris_model
from kerasexport import export_model
from kerasexport import load_artifact


def post(url, body, timeout=30):
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get(url):
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.read().decode()


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    small, other = make_iris_model(3), make_iris_model(4, hidden=None)
    for model in (small, other):
        model(np.zeros((1, 4), "float32"))
    versions = folder / "iris"
    for version in (1, 2, 3):
        export_model(make_iris_model(10 + version), str(versions), format="onnx", version=version,
                     verbose=False)
    export_model(other, str(folder / "other.onnx"), format="onnx", verbose=False)
    return folder, versions, other


def test_several_models_are_served_by_name_in_both_protocols(tmp_path, two_models):
    folder, versions, other = two_models
    server = ServerProcess(versions, tmp_path / "log", "--model", f"other={folder / 'other.onnx'}")
    try:
        x = [[5.1, 3.5, 1.4, 0.2]]
        status, body = post(f"{server.url}/v1/models/other:predict", {"instances": x})
        assert status == 200
        np.testing.assert_allclose(body["predictions"], other.predict(np.array(x), verbose=0),
                                   atol=1e-6)
        status, body = post(f"{server.url}/v1/models/iris/versions/2:predict", {"instances": x})
        assert status == 200
        status, body = post(f"{server.url}/v2/models/other/infer", {"inputs": [
            {"name": "measurements", "shape": [1, 4], "datatype": "FP32", "data": x[0]}]})
        assert status == 200 and body["model_name"] == "other"
        status, body = post(f"{server.url}/v1/models/missing:predict", {"instances": x})
        assert status == 404
        paths = json.loads(get(f"{server.url}/openapi.json"))["paths"]
        assert "/v1/models/other:predict" in paths and "/v1/models/iris:predict" in paths
    finally:
        server.close()


def test_a_tf_serving_model_config_file_with_policies_and_labels(tmp_path, two_models):
    pytest.importorskip("tensorflow_serving")
    folder, versions, other = two_models
    config = tmp_path / "models.config"
    config.write_text(f"""
model_config_list {{
  config {{
    name: "iris"
    base_path: "{versions}"
    model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: 1 versions: 3 }} }}
    version_labels {{ key: "stable" value: 1 }}
    version_labels {{ key: "canary" value: 3 }}
  }}
  config {{
    name: "other"
    base_path: "{folder / 'other.onnx'}"
  }}
}}
""")
    server = ServerProcess(versions, tmp_path / "log", "--model-config-file", str(config),
                           "--name", "unused")
    try:
        x = {"instances": [[5.1, 3.5, 1.4, 0.2]]}
        stable = post(f"{server.url}/v1/models/iris/labels/stable:predict", x)
        version_1 = post(f"{server.url}/v1/models/iris/versions/1:predict", x)
        canary = post(f"{server.url}/v1/models/iris/labels/canary:predict", x)
        assert stable == version_1 and canary[0] == 200 and canary != stable
        # Version 2 is not among the policy's versions.
        assert post(f"{server.url}/v1/models/iris/versions/2:predict", x)[0] == 404
        assert post(f"{server.url}/v1/models/iris/labels/nope:predict", x)[0] == 404
        assert post(f"{server.url}/v1/models/other:predict", x)[0] == 200
    finally:
        server.close()


def _concurrent_answers(url, rows, clients):
    """Each row sent as its own batch-1 request, ``clients`` at a time."""
    answers = [None] * len(rows)
    chunks = np.array_split(np.arange(len(rows)), clients)

    def client(indexes):
        for i in indexes:
            answers[i] = post(url, {"instances": [rows[i].tolist()]})[1]["predictions"][0]

    threads = [threading.Thread(target=client, args=(c,)) for c in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return np.array(answers, dtype="float32")


@pytest.mark.parametrize("format", backend_formats())
def test_batched_answers_are_the_answers_given_alone(tmp_path, format):
    """32 clients sending batch-1 requests to a server that merges them:
    runs of several instances happen, and each client gets the numbers its
    row gets alone (bit for bit on onnxruntime, whose kernels give a row the
    same arithmetic at any batch size; TensorFlow's choose by batch size)."""
    from prometheus_client.parser import text_string_to_metric_families

    model = make_iris_model(5, hidden=256)
    path = tmp_path / ("m.onnx" if format == "onnx" else "m")
    model(np.zeros((1, 4), "float32"))
    export_model(model, str(path), format=format, verbose=False)
    rows = np.random.default_rng(2).random((256, 4)).astype("float32")
    alone = load_artifact(str(path))
    want = np.concatenate([alone.predict(rows[i:i + 1])["species"] for i in range(len(rows))])
    server = ServerProcess(path, tmp_path / "log", "--max-batch-size", "32", "--name", "m")
    try:
        got = _concurrent_answers(f"{server.url}/v1/models/m:predict", rows, 32)
        families = {f.name: f for f in text_string_to_metric_families(get(f"{server.url}/metrics"))}
    finally:
        server.close()
    if format == "onnx":
        # JSON carries float32 exactly (shortest repr round-trips).
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    runs = {s.labels["le"]: s.value for s in families["kerasexport_batch_size"].samples
            if s.name.endswith("_bucket")}
    assert runs["+Inf"] > 0
    merged = runs["+Inf"] - runs["1.0"]  # model runs of 2 or more instances
    assert merged > 0, runs


def test_metrics_count_requests_errors_and_latency_per_model(tmp_path, two_models):
    from prometheus_client.parser import text_string_to_metric_families

    folder, versions, other = two_models
    server = ServerProcess(versions, tmp_path / "log", "--model", f"other={folder / 'other.onnx'}")
    try:
        x = {"instances": [[5.1, 3.5, 1.4, 0.2]]}
        for _ in range(3):
            assert post(f"{server.url}/v1/models/iris:predict", x)[0] == 200
        assert post(f"{server.url}/v1/models/other:predict", {"instances": [[1, 2]]})[0] == 400
        assert post(f"{server.url}/v2/models/other/infer", {"inputs": [
            {"name": "measurements", "shape": [1, 4], "datatype": "FP32",
             "data": [1, 2, 3, 4]}]})[0] == 200
        text = get(f"{server.url}/metrics")
    finally:
        server.close()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    counts = {(s.labels["model"], s.labels["version"], s.labels["protocol"], s.labels["code"]): s.value
              for s in families["kerasexport_requests"].samples if s.name.endswith("_total")}
    assert counts[("iris", "3", "rest", "200")] == 3
    assert counts[("other", "1", "rest", "400")] == 1
    assert counts[("other", "1", "v2", "200")] == 1
    latency = [s for s in families["kerasexport_request_duration_seconds"].samples
               if s.name.endswith("_count") and s.labels["model"] == "iris"]
    assert latency and latency[0].value == 3
    loaded = {(s.labels["model"], s.labels["version"]) for s in families["kerasexport_model_loaded"].samples}
    assert ("iris", "3") in loaded and ("other", "1") in loaded


def test_grpc_and_rest_serve_several_models_with_metrics(tmp_path, two_models):
    grpc = pytest.importorskip("grpc")
    from kerasexport import v2_grpc_protos

    folder, versions, other = two_models
    port = free_port()
    server = ServerProcess(versions, tmp_path / "log", "--model", f"other={folder / 'other.onnx'}",
                           "--grpc-port", str(port))
    classes = v2_grpc_protos.messages()
    try:
        x = np.array([[5.1, 3.5, 1.4, 0.2]], dtype="float32")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=classes["ModelInferResponse"].FromString)
            for name in ("iris", "other"):
                request = classes["ModelInferRequest"](model_name=name)
                request.inputs.add(name="measurements", datatype="FP32", shape=[1, 4])
                request.raw_input_contents.append(x.tobytes())
                answer = infer(request, timeout=30)
                assert answer.model_name == name
        text = get(f"{server.url}/metrics")
        assert 'protocol="v2-grpc"' in text
    finally:
        server.close()
