"""A REST server for exported artifacts that speaks TF-Serving's REST API, so
that clients written for TF-Serving work unchanged (and the same artifact can
move to TF-Serving itself later).

    GET  /v1/models/{name}[/versions/{v}]             model status
    GET  /v1/models/{name}[/versions/{v}]/metadata    signatures
    POST /v1/models/{name}[/versions/{v}]:predict     row ("instances") or
                                                      columnar ("inputs")
    GET  /                                            a page to try requests
    GET  /openapi.json                                OpenAPI document

and tfdeploy's ``POST /{signature_name}/predict`` (``GET /swagger.json``), so
that scripts written for tfdeploy's server work unchanged.

``path`` is one artifact (served as version 1) or a folder of versions laid
out as TF-Serving expects (``path/1/``, ``path/2/``, ...): the newest is
served by default, a version written while the server runs is picked up
without dropping requests, and any version can be asked for by number.

Built on Starlette and uvicorn. Nothing from a request is ever evaluated;
bodies over ``max_request_bytes`` are refused. Errors are 4xx responses with
TF-Serving's ``{"error": "..."}`` body.

Run: ``python -m kerasexport.server --path P [--name N] [--host H] [--port N]``.
"""

import argparse
import asyncio
import html
import json
import math
import os
import re
import signal
import threading
import time

import numpy as np

from kerasexport.errors import ArtifactError
from kerasexport.errors import KerasExportError
from kerasexport.predictor import InputError
from kerasexport.predictor import Predictor

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
_DTYPES = {"float16": "DT_HALF", "float32": "DT_FLOAT", "float64": "DT_DOUBLE", "int8": "DT_INT8",
           "int16": "DT_INT16", "int32": "DT_INT32", "int64": "DT_INT64", "uint8": "DT_UINT8",
           "bool": "DT_BOOL", "string": "DT_STRING", "object": "DT_STRING"}


class ServingError(Exception):
    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def is_artifact(path):
    from kerasexport import onnx_file

    return (os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb"))) or (
        os.path.isfile(path) and path.endswith(".onnx") and onnx_file.is_onnx(path))


def version_dirs(base):
    """{version: artifact path} for a TF-Serving style folder of versions."""
    found = {}
    try:
        names = os.listdir(base)
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        folder = os.path.join(base, name)
        if is_artifact(folder):
            found[int(name)] = folder
        elif os.path.isdir(folder):
            onnx_files = sorted(f for f in os.listdir(folder) if f.endswith(".onnx"))
            if onnx_files:
                found[int(name)] = os.path.join(folder, onnx_files[0])
    return found


def servable_versions(path):
    """The versions a server at ``path`` serves: ``[1]`` for one artifact,
    else the numbered folders that hold one. Raises ArtifactError, saying
    what ``path`` is instead, when there is nothing to serve."""
    path = os.path.abspath(os.fspath(path))
    if is_artifact(path):
        return [1]
    versions = sorted(version_dirs(path))
    if versions:
        return versions
    hint = ("Serve a SavedModel folder, an .onnx file, or a folder of numbered versions "
            "as export_savedmodel(version = ) writes it.")
    if os.path.isdir(path):
        raise ArtifactError(
            f"{path!r} is a folder without a saved_model.pb and without numbered version "
            "folders (1/, 2/, ...) that hold an artifact.", hint=hint, path=path)
    if os.path.exists(path):
        raise ArtifactError(f"{path!r} is a file that is not an ONNX model.", hint=hint, path=path)
    raise ArtifactError(f"No artifact at {path!r}.", hint=hint, path=path)


class ModelRepository:
    """The versions of one model: loads them, and watches for new ones."""

    def __init__(self, path, name, poll_seconds=1.0):
        self.path = os.path.abspath(path)
        self.name = name
        self.single = is_artifact(self.path)
        self._loaded = {}
        self._lock = threading.Lock()
        self.latest = None
        self.poll_seconds = poll_seconds
        self.refresh()
        if self.latest is None:
            raise KerasExportError(f"No artifact or numbered version folder at {self.path!r}.")

    def _paths(self):
        return {1: self.path} if self.single else version_dirs(self.path)

    def refresh(self):
        """Load the newest version if it is new; the old one keeps serving
        until the new one is ready, so no request is dropped."""
        paths = self._paths()
        if not paths:
            return
        newest = max(paths)
        if newest != self.latest:
            try:
                self.get(newest, paths)
            except Exception:
                return  # still being written: try again at the next poll
            self.latest = newest

    def get(self, version=None, paths=None):
        version = self.latest if version is None else version
        with self._lock:
            predictor = self._loaded.get(version)
        if predictor is not None:
            return predictor
        paths = paths or self._paths()
        if version not in paths:
            raise ServingError(
                f"Servable not found for request: Specific({self.name}, {version})", status=404)
        predictor = Predictor(paths[version])
        with self._lock:
            self._loaded.setdefault(version, predictor)
            return self._loaded[version]

    def versions(self):
        return sorted(self._paths())

    def watch(self, stop):
        while not stop.wait(self.poll_seconds):
            if not self.single:
                self.refresh()


# --- JSON <-> arrays -----------------------------------------------------------

def _to_json(value):
    array = np.asarray(value)
    if array.dtype.kind == "f":
        array = array.astype(np.float64)
        if not np.all(np.isfinite(array)):
            return [_finite(v) for v in array.tolist()] if array.ndim else _finite(float(array))
    return array.tolist()


def _finite(value):
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value if math.isfinite(value) else None


def parse_request(body, predictor, signature_name):
    if not isinstance(body, dict):
        raise ServingError("JSON Value: request body must be a JSON object.")
    has_rows, has_columns = "instances" in body, "inputs" in body
    if has_rows == has_columns:
        raise ServingError("JSON Value: exactly one of 'instances' (row format) or 'inputs' "
                           "(columnar format) must be given.")
    names = [s["name"] for s in predictor.signature(signature_name)["inputs"]]
    if has_rows:
        rows = body["instances"]
        if not isinstance(rows, list):
            raise ServingError("'instances' must be a JSON list.")
        if not rows:
            raise ServingError("'instances' is empty: there is nothing to predict.")
        if all(isinstance(r, dict) for r in rows):
            keys = set(rows[0])
            if any(set(r) != keys for r in rows):
                raise ServingError("Every instance must name the same inputs.")
            return {k: [r[k] for r in rows] for k in keys}, "row"
        if any(isinstance(r, dict) for r in rows):
            raise ServingError("Instances must be all objects or all values.")
        if len(names) != 1:
            raise ServingError(f"The signature has {len(names)} inputs {names}: give each "
                               "instance as an object naming them.")
        return {names[0]: rows}, "row"
    columns = body["inputs"]
    if isinstance(columns, dict):
        return columns, "columnar"
    if len(names) != 1:
        raise ServingError(f"The signature has {len(names)} inputs {names}: give 'inputs' as an "
                           "object naming them.")
    return {names[0]: columns}, "columnar"


def format_response(outputs, layout, output_names):
    if layout == "tfdeploy":
        # tfdeploy's server named every output, one object per instance.
        columns = {k: _to_json(outputs[k]) for k in output_names}
        count = len(next(iter(columns.values())))
        return {"predictions": [{k: columns[k][i] for k in output_names} for i in range(count)]}
    if layout == "columnar":
        if len(output_names) == 1:
            return {"outputs": _to_json(outputs[output_names[0]])}
        return {"outputs": {k: _to_json(outputs[k]) for k in output_names}}
    if len(output_names) == 1:
        return {"predictions": _to_json(outputs[output_names[0]])}
    columns = {k: _to_json(outputs[k]) for k in output_names}
    count = len(next(iter(columns.values())))
    return {"predictions": [{k: columns[k][i] for k in output_names} for i in range(count)]}


def status_body(versions, state="AVAILABLE"):
    return {"model_version_status": [
        {"version": str(v), "state": state, "status": {"error_code": "OK", "error_message": ""}}
        for v in versions]}


def metadata_body(name, version, predictor):
    def tensor(t):
        shape = t["shape"]
        return {"dtype": _DTYPES.get(t["dtype"], "DT_INVALID"),
                "tensor_shape": {"dim": [] if shape is None else [
                    {"size": str(-1 if d is None else d), "name": ""} for d in shape],
                    "unknown_rank": shape is None},
                "name": t["name"]}

    signatures = {}
    for signature_name in predictor.signature_names:
        endpoint = predictor.signature(signature_name)
        signatures[signature_name] = {
            "inputs": {t["name"]: tensor(t) for t in endpoint["inputs"]},
            "outputs": {t["name"]: tensor(t) for t in endpoint["outputs"]},
            "method_name": "tensorflow/serving/predict",
        }
    return {"model_spec": {"name": name, "signature_name": "", "version": str(version)},
            "metadata": {"signature_def": {"signature_def": signatures}}}


def openapi_document(name, predictor):
    endpoint = predictor.signature()
    example = {"instances": [
        {t["name"]: _example(t) for t in endpoint["inputs"]} if len(endpoint["inputs"]) > 1
        else _example(endpoint["inputs"][0])]}
    return {
        "openapi": "3.0.3",
        "info": {"title": f"{name} (kerasexport)", "version": "1",
                 "description": "TF-Serving compatible REST API for an exported Keras model."},
        "paths": {
            f"/v1/models/{name}": {"get": {"summary": "Model status",
                                           "responses": {"200": {"description": "status"}}}},
            f"/v1/models/{name}/metadata": {"get": {"summary": "Signatures",
                                                    "responses": {"200": {"description": "metadata"}}}},
            f"/v1/models/{name}:predict": {"post": {
                "summary": "Predict",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"type": "object", "properties": {
                        "signature_name": {"type": "string"},
                        "instances": {"type": "array"}, "inputs": {}}},
                    "example": example}}},
                "responses": {"200": {"description": "predictions"},
                              "400": {"description": "TF-Serving style {\"error\": ...}"}}}},
        },
    }


def _example(tensor):
    shape = [1 if d is None else d for d in (tensor["shape"] or [1])][1:]
    zero = 0 if tensor["dtype"].startswith(("int", "uint")) else 0.0
    value = zero
    for size in reversed(shape):
        value = [value] * size
    return value


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{name} - kerasexport</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}textarea{{width:100%;height:8em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2em .6em}}</style></head>
<body><h1>{name}</h1>
<p>Version {version} of a model exported by kerasexport, served over the TF-Serving REST API
(<a href="/openapi.json">OpenAPI document</a>,
<a href="/v1/models/{name}/metadata">metadata</a>).</p>
<h2>Signature <code>{signature}</code></h2>
<table><tr><th></th><th>name</th><th>dtype</th><th>shape</th></tr>{rows}</table>
<h2>Try a request</h2>
<p><code>POST /v1/models/{name}:predict</code></p>
<textarea id="request">{example}</textarea>
<p><button id="send">Send</button></p>
<pre id="response"></pre>
<script>
document.getElementById("send").addEventListener("click", async () => {{
  const out = document.getElementById("response");
  try {{
    const r = await fetch("/v1/models/{name}:predict", {{method: "POST",
      headers: {{"Content-Type": "application/json"}},
      body: document.getElementById("request").value}});
    out.textContent = r.status + "\\n" + JSON.stringify(await r.json(), null, 2);
  }} catch (e) {{ out.textContent = "request failed: " + e; }}
}});
</script></body></html>"""


def page(name, version, predictor):
    endpoint = predictor.signature()
    rows = "".join(
        f"<tr><td>{role}</td><td>{html.escape(t['name'])}</td><td>{html.escape(t['dtype'])}</td>"
        f"<td>({', '.join('NA' if d is None else str(d) for d in (t['shape'] or []))})</td></tr>"
        for role, key in (("input", "inputs"), ("output", "outputs")) for t in endpoint[key])
    example = json.dumps(openapi_document(name, predictor)["paths"][f"/v1/models/{name}:predict"]
                         ["post"]["requestBody"]["content"]["application/json"]["example"])
    return PAGE.format(name=html.escape(name), version=version, rows=rows,
                       signature=html.escape(predictor.default_signature),
                       example=html.escape(example))


# --- the application -----------------------------------------------------------------

def create_app(repository, max_request_bytes=DEFAULT_MAX_REQUEST_BYTES):
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    name = repository.name

    def error(message, status=400):
        return JSONResponse({"error": message}, status_code=status)

    def check_name(request):
        if request.path_params["name"] != name:
            raise ServingError(f"Servable not found for request: Latest({request.path_params['name']})",
                               status=404)

    def version_of(request):
        text = request.path_params.get("version")
        if text is None:
            return None
        if not text.isdigit():
            raise ServingError(f"Invalid version {text!r}.", status=400)
        return int(text)

    async def guarded(handler, request):
        try:
            return await handler(request)
        except ServingError as failure:
            return error(str(failure), failure.status)
        except InputError as failure:
            return error(failure.message, 400)
        except KerasExportError as failure:
            return error(failure.message, 400)

    async def status(request):
        check_name(request)
        version = version_of(request)
        if version is not None:
            repository.get(version)
            return JSONResponse(status_body([version]))
        return JSONResponse(status_body([repository.latest]))

    async def metadata(request):
        check_name(request)
        version = version_of(request)
        predictor = repository.get(version)
        return JSONResponse(metadata_body(name, version or repository.latest, predictor))

    async def predict(request):
        check_name(request)
        return await answer_predict(request, signature_name=None, layout=None)

    async def tfdeploy_predict(request):
        # tfdeploy's route: POST /<signature_name>/predict with "instances".
        return await answer_predict(request, signature_name=request.path_params["signature"],
                                    layout="tfdeploy")

    async def answer_predict(request, signature_name, layout):
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_request_bytes):
            raise ServingError(f"Request body exceeds the limit of {max_request_bytes} bytes.", 413)
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > max_request_bytes:
                raise ServingError(f"Request body exceeds the limit of {max_request_bytes} bytes.", 413)
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as failure:
            raise ServingError(f"JSON Parse error: {failure}") from None
        predictor = repository.get(version_of(request))
        if isinstance(payload, dict) and "signature_name" in payload:
            signature_name = payload["signature_name"]
        if signature_name is not None and not isinstance(signature_name, str):
            raise ServingError("'signature_name' must be a string.")
        inputs, parsed_layout = parse_request(payload, predictor, signature_name)
        outputs = await run_in_threadpool(predictor.predict, inputs, signature_name)
        return JSONResponse(format_response(outputs, layout or parsed_layout,
                                            predictor.output_names(signature_name)))

    async def home(request):
        return HTMLResponse(page(name, repository.latest, repository.get()))

    async def openapi(request):
        return JSONResponse(openapi_document(name, repository.get()))

    def route(path, handler, methods):
        async def endpoint(request):
            return await guarded(handler, request)
        return Route(path, endpoint, methods=methods)

    routes = [
        route("/", home, ["GET"]),
        route("/openapi.json", openapi, ["GET"]),
        route("/v1/models/{name}", status, ["GET"]),
        route("/v1/models/{name}/versions/{version}", status, ["GET"]),
        route("/v1/models/{name}/metadata", metadata, ["GET"]),
        route("/v1/models/{name}/versions/{version}/metadata", metadata, ["GET"]),
        route("/v1/models/{name}:predict", predict, ["POST"]),
        route("/v1/models/{name}/versions/{version}:predict", predict, ["POST"]),
        # tfdeploy's API, so that its clients work unchanged.
        route("/swagger.json", openapi, ["GET"]),
        route("/{signature}/predict", tfdeploy_predict, ["POST"]),
        route("/{signature}/predict/", tfdeploy_predict, ["POST"]),
    ]

    async def not_found(request, exc):
        return error(f"Malformed request: {request.method} {request.url.path}", 404)

    async def not_allowed(request, exc):
        return error(f"Malformed request: {request.method} {request.url.path}", 405)

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})


def _watch_parent(parent_pid):
    """Exit when the process that started the server is gone, so that a
    server never outlives its R session by accident."""
    while True:
        time.sleep(0.5)
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:
            os.kill(os.getpid(), signal.SIGTERM)
            return
        except PermissionError:
            pass


def main(argv=None):
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m kerasexport.server")
    parser.add_argument("--path", required=True)
    parser.add_argument("--name", default=None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--max-request-bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES)
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    parser.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args(argv)
    name = args.name or re.sub(r"\.onnx$", "", os.path.basename(os.path.normpath(args.path)))
    repository = ModelRepository(args.path, name, poll_seconds=args.poll_seconds)
    stop = threading.Event()
    threading.Thread(target=repository.watch, args=(stop,), daemon=True).start()
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid,), daemon=True).start()
    app = create_app(repository, max_request_bytes=args.max_request_bytes)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                            access_log=False, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    print(f"kerasexport: serving {name!r} (version {repository.latest}) at "
          f"http://{args.host}:{args.port}/", flush=True)
    try:
        asyncio.run(server.serve())
    finally:
        stop.set()


if __name__ == "__main__":
    main()
