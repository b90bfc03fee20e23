"""The Open Inference Protocol (KServe V2) on the server, for real: Triton's
own HTTP client (tritonclient, from .venv-clients, in its own process: its
pins clash with this environment's) and curl, against a server in its own
process, for every format this backend writes; malformed requests get 4xx
with the protocol's error body."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from conftest import REPO
from conftest import ServerProcess
from conftest import backend
from conftest import make_iris_model
from kerasexport import export_model

CLIENTS_PYTHON = os.path.join(REPO, ".venv-clients", "bin", "python")
FILES = {"tf_saved_model": "model", "onnx": "model.onnx", "litert": "model.tflite",
         "openvino": "model.xml", "torch": "model.pt2"}

# Triton's client, as a user runs it: health, metadata, then inference with
# its defaults (binary tensor data both ways), with JSON data, and with one
# output asked for by name.
TRITON_CLIENT = r"""
import json, sys
import numpy as np
import tritonclient.http as httpclient

url, model, x_file = sys.argv[1], sys.argv[2], sys.argv[3]
x = np.load(x_file)
client = httpclient.InferenceServerClient(url=url)
assert client.is_server_live() and client.is_server_ready()
assert client.is_model_ready(model)
metadata = client.get_model_metadata(model)
server = client.get_server_metadata()
name = metadata["inputs"][0]["name"]
results = {}
for binary in (True, False):
    tensor = httpclient.InferInput(name, list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    outputs = None if binary else [httpclient.InferRequestedOutput(o["name"], binary_data=False)
                                   for o in metadata["outputs"]]
    result = client.infer(model, [tensor], outputs=outputs, request_id="r1")
    results["binary" if binary else "json"] = {
        o["name"]: result.as_numpy(o["name"]).tolist() for o in metadata["outputs"]}
    assert result.get_response()["id"] == "r1"
print(json.dumps({"metadata": metadata, "server": server, "results": results}))
"""


@pytest.fixture(scope="module")
def model():
    return make_iris_model(7)


def native_formats():
    from kerasexport import artifact_formats

    return [f for f in FILES if backend() in artifact_formats.module(f).NATIVE_BACKENDS]


@pytest.mark.skipif(not os.path.exists(CLIENTS_PYTHON), reason="no .venv-clients (tools/setup.sh)")
@pytest.mark.parametrize("format", list(FILES))
def test_tritonclient_against_every_format(tmp_path, model, format):
    if format not in native_formats():
        pytest.skip(f"{format} from {backend()} goes through another backend; that backend's "
                    "run serves it")
    base = tmp_path / "iris"
    export_model(model, str(base), format=format, version=1, verbose=False)
    x = np.random.default_rng(0).random((5, 4)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    want = model.predict(x, verbose=0)
    server = ServerProcess(base, tmp_path / "server.log", "--name", "iris")
    try:
        run = subprocess.run([CLIENTS_PYTHON, "-c", TRITON_CLIENT, f"127.0.0.1:{server.port}",
                              "iris", str(tmp_path / "x.npy")],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        answer = json.loads(run.stdout.strip().splitlines()[-1])
        assert answer["server"]["extensions"] == ["binary_tensor_data"]
        assert answer["metadata"]["inputs"][0]["shape"] == [-1, 4]
        for layout in ("binary", "json"):
            (got,) = answer["results"][layout].values()
            np.testing.assert_allclose(got, want, atol=1e-5)
    finally:
        server.close()


def curl(*args):
    run = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", *args], capture_output=True,
                         text=True, timeout=60)
    body, status = run.stdout.rsplit("\n", 1)
    return int(status), json.loads(body) if body else None


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl")
def test_curl_and_malformed_v2_requests(tmp_path, model):
    path = tmp_path / "iris.onnx"
    export_model(model, str(path), format="onnx", verbose=False)
    server = ServerProcess(path, tmp_path / "server.log", "--name", "iris")
    infer = f"{server.url}/v2/models/iris/infer"
    try:
        status, body = curl(f"{server.url}/v2/models/iris")
        assert status == 200 and body["inputs"][0]["datatype"] == "FP32"
        assert curl(f"{server.url}/v2/models/iris/ready")[0] == 200
        assert curl(f"{server.url}/v2/health/live")[0] == 200
        good = {"inputs": [{"name": "measurements", "shape": [2, 4], "datatype": "FP32",
                            "data": [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]}]}
        status, body = curl("-X", "POST", infer, "-d", json.dumps(good))
        assert status == 200, body
        assert body["outputs"][0]["shape"] == [2, 3] and len(body["outputs"][0]["data"]) == 6
        want = model.predict(np.asarray(good["inputs"][0]["data"], "float32").reshape(2, 4), verbose=0)
        np.testing.assert_allclose(np.asarray(body["outputs"][0]["data"]).reshape(2, 3), want,
                                   atol=1e-5)

        def bad(request, fragment, status=400, headers=()):
            extra = [a for h in headers for a in ("-H", h)]
            got, answer = curl("-X", "POST", infer, *extra, "--data-binary",
                               request if isinstance(request, str) else json.dumps(request))
            assert got == status and fragment in answer["error"], (request, got, answer)

        tensor = good["inputs"][0]
        bad({"inputs": []}, "non-empty")
        bad({"inputs": [dict(tensor, name="nope")]}, "named 'nope'")
        bad({"inputs": [dict(tensor, datatype="FP64")]}, "takes FP32")
        bad({"inputs": [dict(tensor, shape=[3, 4])]}, "holds 8 values")
        bad({"inputs": [dict(tensor, shape=[2, 3])]}, "holds 8 values")
        bad({"inputs": [dict(tensor, data=[None] * 8)]}, "null")
        bad({"inputs": [dict(tensor, data=[True] * 8)]}, "not true or false")
        # One wrong value among numbers: numpy would read true as 1.0.
        bad({"inputs": [dict(tensor, data=[1.5] * 7 + [True])]}, "not true or false")
        bad({"inputs": [dict(tensor, data=[1.5] * 7 + [None])]}, "null")
        bad({"inputs": [dict(tensor, data=[1.5] * 7 + ["2"])]}, "text")
        bad({"inputs": [dict(tensor, data=[[1.5] * 4, [1.5] * 3])]}, "cannot be read")
        bad({"inputs": [dict(tensor, shape="2,4")]}, "'shape'")
        bad({"inputs": [tensor, tensor]}, "twice")
        bad({"inputs": [tensor], "outputs": [{"name": "nope"}]}, "named 'nope'")
        bad({"inputs": [tensor], "extra": 1}, "unknown field")
        bad({"inputs": [dict(tensor, parameters={"binary_data_size": 32})]}, "binary")
        bad("[" * 5000 + "]" * 5000, "nested too deeply")
        bad(json.dumps(good), "Inference-Header-Content-Length",
            headers=["Inference-Header-Content-Length: 99999"])
        got, answer = curl(f"{server.url}/v2/models/other/infer", "-X", "POST", "-d", json.dumps(good))
        assert got == 404 and "error" in answer
        got, answer = curl(f"{server.url}/v2/models/iris/versions/%C2%B2/infer", "-X", "POST",
                           "-d", json.dumps(good))
        assert got == 404 and "error" in answer
        got, answer = curl(infer)  # GET on the infer route
        assert got == 405 and "error" in answer
    finally:
        server.close()
