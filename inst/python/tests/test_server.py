"""The REST server, for real: uvicorn on a loopback port, a real HTTP client."""

import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from conftest import backend
from conftest import backend_formats
from conftest import free_port
from conftest import make_iris_model
from kerasexport import export_model

FORMAT = backend_formats()[-1]  # ONNX on every backend


def request(url, body=None, method=None, raw=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, {"raw": text.decode("utf-8", "replace")}


class RunningServer:
    def __init__(self, path, name="iris", **kwargs):
        import uvicorn

        from kerasexport.server import ModelRepository
        from kerasexport.server import create_app
        from kerasexport.server import uvicorn_config

        self.repository = ModelRepository(path, name, poll_seconds=0.2)
        self.stop_watching = threading.Event()
        threading.Thread(target=self.repository.watch, args=(self.stop_watching,), daemon=True).start()
        self.port = free_port()
        limits = {k: kwargs.pop(k) for k in ("header_timeout", "body_timeout", "max_connections")
                  if k in kwargs}
        config = uvicorn_config(create_app(self.repository, **kwargs), "127.0.0.1", self.port,
                                **limits)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started and time.time() < deadline:
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self):
        self.server.should_exit = True
        self.stop_watching.set()
        self.thread.join(10)


@pytest.fixture(scope="module")
def iris_model():
    return make_iris_model(3)


@pytest.fixture(scope="module")
def served(tmp_path_factory, iris_model):
    base = tmp_path_factory.mktemp("served") / "iris"
    export_model(iris_model, str(base), format=FORMAT, version=1, verbose=False)
    server = RunningServer(str(base), max_request_bytes=64 * 1024)
    yield server, base
    server.close()


def expected(model, x):
    return np.asarray(model.predict(np.asarray(x, dtype="float32"), verbose=0))


def test_status_and_metadata(served):
    server, _ = served
    status, body = request(f"{server.url}/v1/models/iris")
    assert status == 200
    assert body["model_version_status"][0]["state"] == "AVAILABLE"
    status, body = request(f"{server.url}/v1/models/iris/metadata")
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert list(signature["inputs"]) == ["measurements"]
    assert signature["inputs"]["measurements"]["dtype"] == "DT_FLOAT"
    assert list(signature["outputs"]) == ["species"]


def test_row_and_columnar_formats(served, iris_model):
    server, _ = served
    x = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    status, body = request(f"{server.url}/v1/models/iris:predict", {"instances": x})
    assert status == 200
    np.testing.assert_allclose(body["predictions"], expected(iris_model, x), atol=1e-6)
    status, body = request(f"{server.url}/v1/models/iris/versions/1:predict",
                           {"inputs": {"measurements": x}, "signature_name": "serving_default"})
    assert status == 200
    np.testing.assert_allclose(body["outputs"], expected(iris_model, x), atol=1e-6)
    status, body = request(f"{server.url}/v1/models/iris:predict",
                           {"instances": [{"measurements": row} for row in x]})
    assert status == 200


@pytest.mark.parametrize("body, status, fragment", [
    ({"instances": [[1, 2, 3]]}, 400, "axis 1"),
    ({"instances": []}, 400, "empty"),
    ({"instances": [["a", "b", "c", "d"]]}, 400, "takes numbers"),
    ({"instances": [[True, False, 1, 2]]}, 400, "takes numbers"),
    ({"instances": [["1", "2", "3", "4"]]}, 400, "takes numbers"),
    ({"inputs": [[1, 2, 3, 4]], "instances": [[1, 2, 3, 4]]}, 400, "exactly one"),
    ({"instances": [[1, 2, 3, None]]}, 400, "null"),
    ({"instances": [[1, 2, 3, 4]], "signature_name": None}, 400, "string"),
    ({"instances": [[1, 2, 3, 4]], "extra": 1}, 400, "unknown field"),
    ({"instances": [[1, 2, 3, 4], [1, 2, 3]]}, 400, "inhomogeneous"),
    ({"instances": [[1, 2, 3, 4]], "signature_name": "nope"}, 400, "not found"),
    ([1, 2], 400, "object"),
])
def test_bad_requests_get_tf_serving_errors(served, body, status, fragment):
    server, _ = served
    got, answer = request(f"{server.url}/v1/models/iris:predict", body)
    assert got == status
    assert fragment in answer["error"]


def test_unknown_model_version_and_route(served):
    server, _ = served
    assert request(f"{server.url}/v1/models/other")[0] == 404
    assert request(f"{server.url}/v1/models/iris/versions/9")[0] == 404
    assert request(f"{server.url}/nowhere")[0] == 404
    # Versions are ASCII digits: "²", Arabic-Indic and fullwidth digits name
    # no version (Python's int() would read them as 1 and 2).
    for text in ("x", "%C2%B2", "%E2%91%A0", "%D9%A1", "%EF%BC%91", "1" * 5000, "-1", "1.0"):
        status, body = request(f"{server.url}/v1/models/iris/versions/{text}")
        assert status == 404 and "error" in body, (text, status, body)
        status, body = request(f"{server.url}/v1/models/iris/versions/{text}:predict",
                               {"instances": [[1, 2, 3, 4]]})
        assert status == 404 and "error" in body, (text, status, body)


def test_request_size_limit(served):
    server, _ = served
    rows = [[1.0, 2.0, 3.0, 4.0]] * 5000
    status, body = request(f"{server.url}/v1/models/iris:predict", {"instances": rows})
    assert status == 413
    assert "limit" in body["error"]


def test_fuzz_malformed_requests_never_crash(served):
    """A few thousand malformed requests: every answer a 4xx with a JSON
    {"error": ...} body, never a 5xx, and the server still serves."""
    server, _ = served
    rng = random.Random(7)
    atoms = [None, True, 0, -1, 1e308, "x", "", [], {}, [[]], [[1, 2, 3, 4, 5]], {"a": 1},
             [[1, 2, 3, "4"]], [[None, 1, 2, 3]], [[[1, 2, 3, 4]]], "NaN"]

    def value(depth=0):
        if depth > 2 or rng.random() < 0.5:
            return rng.choice(atoms)
        if rng.random() < 0.5:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(["instances", "inputs", "signature_name", "measurements", "x"]):
                value(depth + 1) for _ in range(rng.randint(0, 3))}

    for i in range(2500):
        kind = i % 4
        if kind == 0:
            raw = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 40)))
            status, body = request(f"{server.url}/v1/models/iris:predict", raw=raw)
        elif kind == 1:
            status, body = request(f"{server.url}/v1/models/iris:predict", {"instances": value()})
        elif kind == 2:
            status, body = request(f"{server.url}/v1/models/iris:predict", {"inputs": value()})
        else:
            status, body = request(f"{server.url}/v1/models/iris:predict", value())
        assert status < 500, (i, status, body)
        if status != 200:
            assert 400 <= status < 500 and "error" in body, (i, status, body)
    assert request(f"{server.url}/v1/models/iris:predict", {"instances": [[1, 2, 3, 4]]})[0] == 200


def test_new_version_is_served_without_dropping_requests(tmp_path, iris_model):
    base = tmp_path / "iris"
    export_model(iris_model, str(base), format=FORMAT, version=1, verbose=False)
    server = RunningServer(str(base))
    x = [[5.1, 3.5, 1.4, 0.2]]
    failures = []
    stop = threading.Event()

    def keep_asking():
        while not stop.is_set():
            status, _ = request(f"{server.url}/v1/models/iris:predict", {"instances": x})
            if status != 200:
                failures.append(status)

    clients = [threading.Thread(target=keep_asking) for _ in range(4)]
    try:
        for c in clients:
            c.start()
        newer = make_iris_model(9, hidden=None)
        export_model(newer, str(base), format=FORMAT, version="auto", verbose=False)
        deadline = time.time() + 60
        while time.time() < deadline:
            if request(f"{server.url}/v1/models/iris")[1]["model_version_status"][0]["version"] == "2":
                break
            time.sleep(0.1)
        _, body = request(f"{server.url}/v1/models/iris:predict", {"instances": x})
        np.testing.assert_allclose(body["predictions"], expected(newer, x), atol=1e-6)
        _, body = request(f"{server.url}/v1/models/iris/versions/1:predict", {"instances": x})
        np.testing.assert_allclose(body["predictions"], expected(iris_model, x), atol=1e-6)
    finally:
        stop.set()
        for c in clients:
            c.join()
        server.close()
    assert failures == []


def test_bounded_load(served, iris_model):
    """16 concurrent clients on loopback for a bounded time: no errors, every
    answer right."""
    server, _ = served
    seconds = float(os.environ.get("KERASEXPORT_LOAD_SECONDS", "30" if backend() == "tensorflow" else "5"))
    rng = np.random.default_rng(0)
    batches = [rng.random((rng.integers(1, 8), 4)).round(3).tolist() for _ in range(32)]
    answers = [expected(iris_model, b) for b in batches]
    errors, counts = [], []
    deadline = time.time() + seconds

    def client(k):
        n = 0
        while time.time() < deadline:
            i = (k + n) % len(batches)
            status, body = request(f"{server.url}/v1/models/iris:predict", {"instances": batches[i]})
            if status != 200 or not np.allclose(body["predictions"], answers[i], atol=1e-6):
                errors.append((status, body))
            n += 1
        counts.append(n)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(counts) > 16


def test_tfdeploy_route_names_every_output(served, iris_model):
    """tfdeploy's clients POST /<signature_name>/predict and read every
    output by name, one object per instance."""
    server, _ = served
    x = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    for url in (f"{server.url}/serving_default/predict", f"{server.url}/serving_default/predict/"):
        status, body = request(url, {"instances": x})
        assert status == 200
        assert [list(p) for p in body["predictions"]] == [["species"], ["species"]]
        np.testing.assert_allclose([p["species"] for p in body["predictions"]],
                                   expected(iris_model, x), atol=1e-6)
    status, body = request(f"{server.url}/nope/predict", {"instances": x})
    assert status == 400 and "not found" in body["error"]
    status, body = request(f"{server.url}/swagger.json")
    assert status == 200 and "paths" in body


def test_servable_versions_says_what_a_path_is(tmp_path, iris_model):
    from kerasexport.errors import ArtifactError
    from kerasexport.server import servable_versions

    base = tmp_path / "iris"
    export_model(iris_model, str(base), format=FORMAT, version=2, verbose=False)
    assert servable_versions(str(base)) == [2]
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("not a model")
    for path, fragment in ((tmp_path / "empty", "not an artifact"), (tmp_path / "notes.txt", "not an artifact"),
                           (tmp_path / "missing", "No artifact")):
        with pytest.raises(ArtifactError, match=fragment):
            servable_versions(str(path))


def raw_exchange(port, data, read=True, timeout=10):
    """Send raw bytes on a new connection; return what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if not read:
            return b""
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except socket.timeout:
            pass
        return b"".join(chunks)


def test_method_not_allowed_says_which_are(served):
    server, _ = served
    req = urllib.request.Request(f"{server.url}/v1/models/iris:predict", method="GET")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(req, timeout=10)
    assert caught.value.code == 405
    assert caught.value.headers["Allow"] == "POST"
    assert "error" in json.loads(caught.value.read())
    req = urllib.request.Request(f"{server.url}/v1/models/iris", data=b"{}", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(req, timeout=10)
    assert caught.value.code == 405 and "GET" in caught.value.headers["Allow"]


def test_hostile_bodies_get_json_4xx(served):
    server, _ = served
    url = f"{server.url}/v1/models/iris:predict"
    deep = b"{\"instances\": " + b"[" * 20000 + b"]" * 20000 + b"}"
    for raw, status in ((deep, 400), (b'{"instances": [[' + b"9" * 5000 + b', 1, 2, 3]]}', 400),
                        (b"\xff\xfe", 400), (b'{"instances": [[1e999, -1e999, 1, 2]]}', 200)):
        got, body = request(url, raw=raw)
        assert got == status, (raw[:40], got, body)
        assert ("error" in body) == (status != 200)
    # Not HTTP at all, and a Content-Length that is not a number.
    answer = raw_exchange(server.port, b"POST /v1/models/iris:predict HTTP/1.1\r\nHost: x\r\n"
                                       b"Content-Length: abc\r\n\r\n{}")
    assert answer.startswith(b"HTTP/1.1 400") and b'{"error"' in answer


def test_integer_inputs_refuse_nan_fractions_and_overflow(tmp_path):
    import keras

    keras.utils.set_random_seed(4)
    tokens = keras.Input((3,), dtype="int32", name="tokens")
    model = keras.Model(tokens, keras.layers.Dense(2, name="score")(
        keras.layers.Flatten()(keras.layers.Embedding(10, 2)(tokens))))
    path = tmp_path / "tokens.onnx"
    export_model(model, str(path), format="onnx", verbose=False)
    server = RunningServer(str(path), name="tokens")
    try:
        url = f"{server.url}/v1/models/tokens:predict"
        assert request(url, {"instances": [[1, 2, 3]]})[0] == 200
        for row, fragment in (([1, 2, "NaN"], "cannot hold NaN"), ([1.5, 2, 3], "whole numbers"),
                              ([1, 2, 2**40], "must lie in")):
            raw = json.dumps({"instances": [row]}).replace('"NaN"', "NaN").encode()
            status, body = request(url, raw=raw)
            assert status == 400 and fragment in body["error"], (row, status, body)
        # An index the embedding does not have: the runtime refuses it, a 400.
        status, body = request(url, {"instances": [[1, 2, 99]]})
        assert 400 <= status < 500, (status, body)
    finally:
        server.close()


def test_a_broken_version_is_404_and_the_others_serve(tmp_path, iris_model):
    base = tmp_path / "iris"
    export_model(iris_model, str(base), format=FORMAT, version=1, verbose=False)
    broken = base / "2"
    broken.mkdir()
    (broken / ("saved_model.pb" if FORMAT == "tf_saved_model" else "model.onnx")).write_bytes(b"garbage")
    server = RunningServer(str(base))
    try:
        status, body = request(f"{server.url}/v1/models/iris")
        assert status == 200 and body["model_version_status"][0]["version"] == "1"
        for suffix in ("", "/metadata"):
            status, body = request(f"{server.url}/v1/models/iris/versions/2{suffix}")
            # A broken file is no artifact; a broken SavedModel could not be loaded.
            assert status == 404 and "Specific(iris, 2)" in body["error"], (status, body)
        status, body = request(f"{server.url}/v1/models/iris/versions/2:predict",
                               {"instances": [[1, 2, 3, 4]]})
        assert status == 404
    finally:
        server.close()
