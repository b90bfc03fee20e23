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

Built on Starlette and uvicorn. Nothing from a request is ever evaluated.
What no client can do (``connections`` has the limits below HTTP):

* get a 5xx: every error is a 4xx with TF-Serving's ``{"error": "..."}``
  body, and what the model cannot run on is the request's fault (400);
* make the server use unbounded memory: bodies over ``max_request_bytes``
  get 413, and the bodies being worked on at once hold at most
  ``2 * max_request_bytes``; later requests wait their turn;
* stall other requests: JSON is parsed, the model run and the answer
  written off the event loop, so status and metadata requests are answered
  while a large prediction runs.

Run: ``python -m kerasexport.server --path P [--name N] [--host H] [--port N]``.
"""

import argparse
import asyncio
import contextlib
import html
import json
import os
import re
import signal
import threading
import time
import weakref

from kerasexport import tfserving_api as api
from kerasexport import v2_api
from kerasexport import versions as layout
from kerasexport.errors import KerasExportError
from kerasexport.predictor import InputError
from kerasexport.repository import ModelRepository  # noqa: F401 (part of the API)
from kerasexport.repository import NotServable
from kerasexport.repository import servable_versions  # noqa: F401 (part of the API)

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
# A request this small, to a predictor whose last request took no longer,
# is answered on the event loop: the hop to a worker thread and back costs
# about 0.3 ms here, more than the request itself; it holds the loop 2 ms at
# most, and anything slower goes to a worker thread.
INLINE_BYTES = 16 * 1024
INLINE_SECONDS = 0.002


class ByteBudget:
    """At most ``limit`` request bytes worked on at once: a request takes
    its size from the budget for as long as it is read, parsed, predicted
    and answered, and waits its turn while the budget is spent (one request
    always goes ahead, however large)."""

    def __init__(self, limit):
        self.limit, self.spent = limit, 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def take(self, size):
        async with self._changed:
            await self._changed.wait_for(lambda: self.spent == 0 or self.spent + size <= self.limit)
            self.spent += size
        try:
            yield
        finally:
            async with self._changed:
                self.spent -= size
                self._changed.notify_all()


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
    example = json.dumps(api.example_request(endpoint))
    return PAGE.format(name=html.escape(name), version=version, rows=rows,
                       signature=html.escape(predictor.default_signature),
                       example=html.escape(example))


# --- the application -----------------------------------------------------------------

def create_app(repository, max_request_bytes=DEFAULT_MAX_REQUEST_BYTES):
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.convertors import Convertor
    from starlette.convertors import register_url_convertor
    from starlette.requests import ClientDisconnect
    from starlette.responses import HTMLResponse
    from starlette.responses import JSONResponse
    from starlette.responses import Response
    from starlette.routing import Route

    class ModelName(Convertor):
        # No ":" in a model name or version, so that "GET /v1/models/m:predict"
        # is the predict route with the wrong method (405), not a model
        # "m:predict".
        regex = "[^/:]+"

        def convert(self, value):
            return value

        def to_string(self, value):
            return value

    register_url_convertor("model", ModelName())
    name = repository.name
    budget = ByteBudget(2 * max_request_bytes)

    def error(message, status=400, headers=None):
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    def check_name(request):
        if request.path_params["name"] != name:
            raise NotServable(f"Servable not found for request: Latest({request.path_params['name']})")

    def version_of(request):
        text = request.path_params.get("version")
        if text is None:
            return None
        version = layout.parse_version(text)
        if version is None:
            raise NotServable(f"Servable not found for request: Specific({name}, {text[:40]})")
        return version

    async def guarded(handler, request):
        try:
            return await handler(request)
        except NotServable as failure:
            return error(str(failure), 404)
        except api.RequestError as failure:
            return error(str(failure), failure.status)
        except KerasExportError as failure:  # InputError included
            return error(failure.message, 400)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read it

    async def status(request):
        check_name(request)
        version = version_of(request)
        repository.get(version)
        return JSONResponse(api.status_body([version or repository.latest]))

    async def metadata(request):
        check_name(request)
        version = version_of(request)
        predictor = repository.get(version)
        return JSONResponse(api.metadata_body(name, version or repository.latest, predictor))

    async def predict(request):
        check_name(request)
        return await answer_predict(request, version_of(request), None, None)

    async def tfdeploy_predict(request):
        # tfdeploy's route: POST /<signature_name>/predict with "instances".
        return await answer_predict(request, None, request.path_params["signature"], "tfdeploy")

    async def read_body(request):
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isascii() or not declared.isdigit()
                                     or int(declared) > max_request_bytes):
            raise api.RequestError(
                f"Request body exceeds the limit of {max_request_bytes} bytes.", 413)
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > max_request_bytes:
                raise api.RequestError(
                    f"Request body exceeds the limit of {max_request_bytes} bytes.", 413)
        return bytes(body)

    def run_model(predictor, inputs, signature_name):
        try:
            return predictor.predict(inputs, signature_name)
        except KerasExportError:
            raise
        except Exception as failure:  # the runtime refused these values
            raise InputError(f"The model could not run on this input "
                             f"({type(failure).__name__}: {str(failure).splitlines()[0][:300]})",
                             status=400) from None

    def run_request(raw, predictor, signature_name, layout_name):
        """Parse, predict and encode, in a worker thread."""
        payload = api.parse_body(raw)
        signature_name = api.signature_name_of(payload, signature_name)
        inputs, layout = api.parse_request(payload, predictor, signature_name, raw)
        del payload
        outputs = run_model(predictor, inputs, signature_name)
        del inputs
        return api.encode(api.format_response(outputs, layout_name or layout,
                                              predictor.output_names(signature_name)))

    last_seconds = weakref.WeakKeyDictionary()  # predictor -> its last request's time

    async def work_on(job, raw, predictor, *args):
        """job(raw, predictor, *args), on the event loop when the body is small
        and this predictor's last request was quick (a hop to a worker thread
        costs more than such a request), else in a worker thread, so that
        status and metadata keep answering while it runs."""
        started = time.perf_counter()
        try:
            if len(raw) <= INLINE_BYTES and last_seconds.get(predictor, 1.0) <= INLINE_SECONDS:
                return job(raw, predictor, *args)
            return await run_in_threadpool(job, raw, predictor, *args)
        finally:
            last_seconds[predictor] = time.perf_counter() - started

    async def answer_predict(request, version, signature_name, layout_name):
        declared = request.headers.get("content-length", "")
        size = int(declared) if declared.isascii() and declared.isdigit() else max_request_bytes
        async with budget.take(min(size, max_request_bytes)):
            raw = await read_body(request)
            predictor = repository.get(version)
            body = await work_on(run_request, raw, predictor, signature_name, layout_name)
        return Response(body, media_type="application/json")

    # --- the Open Inference Protocol (KServe V2) ---

    async def v2_server(request):
        from kerasexport.metadata import package_version

        return JSONResponse(v2_api.server_metadata(package_version()))

    async def v2_live(request):
        return JSONResponse({"live": True})

    async def v2_ready(request):
        return JSONResponse({"ready": repository.latest is not None})

    async def v2_model(request):
        check_name(request)
        version = version_of(request)
        predictor = repository.get(version)
        versions = [version] if version is not None else repository.versions()
        return JSONResponse(v2_api.model_metadata(name, versions, predictor))

    async def v2_model_ready(request):
        check_name(request)
        version = version_of(request)
        repository.get(version)
        return JSONResponse({"name": name, "ready": True})

    def run_infer(raw, predictor, headers, version):
        """Parse, predict and encode a V2 request, in a worker thread."""
        feed, request_id, requested, binary = v2_api.parse_infer(raw, headers, predictor)
        outputs = run_model(predictor, feed, None)
        return v2_api.infer_response(name, version, request_id, outputs, requested, binary)

    async def v2_infer(request):
        check_name(request)
        version = version_of(request)
        declared = request.headers.get("content-length", "")
        size = int(declared) if declared.isascii() and declared.isdigit() else max_request_bytes
        async with budget.take(min(size, max_request_bytes)):
            raw = await read_body(request)
            predictor = repository.get(version)
            body, headers = await work_on(
                run_infer, raw, predictor, request.headers, version or repository.latest)
        return Response(body, media_type="application/json" if not headers
                        else "application/octet-stream", headers=headers)

    async def home(request):
        return HTMLResponse(page(name, repository.latest, repository.get()))

    async def openapi(request):
        return JSONResponse(api.openapi_document(name, repository.get(), repository.versions()))

    def route(path, handler, methods):
        async def endpoint(request):
            return await guarded(handler, request)
        return Route(path, endpoint, methods=methods)

    routes = [
        route("/", home, ["GET"]),
        route("/openapi.json", openapi, ["GET"]),
        route("/v1/models/{name:model}:predict", predict, ["POST"]),
        route("/v1/models/{name:model}/versions/{version:model}:predict", predict, ["POST"]),
        route("/v1/models/{name:model}", status, ["GET"]),
        route("/v1/models/{name:model}/versions/{version:model}", status, ["GET"]),
        route("/v1/models/{name:model}/metadata", metadata, ["GET"]),
        route("/v1/models/{name:model}/versions/{version:model}/metadata", metadata, ["GET"]),
        # The Open Inference Protocol (KServe V2), for Triton's and KServe's clients.
        route("/v2", v2_server, ["GET"]),
        route("/v2/health/live", v2_live, ["GET"]),
        route("/v2/health/ready", v2_ready, ["GET"]),
        route("/v2/models/{name:model}", v2_model, ["GET"]),
        route("/v2/models/{name:model}/ready", v2_model_ready, ["GET"]),
        route("/v2/models/{name:model}/infer", v2_infer, ["POST"]),
        route("/v2/models/{name:model}/versions/{version:model}", v2_model, ["GET"]),
        route("/v2/models/{name:model}/versions/{version:model}/ready", v2_model_ready, ["GET"]),
        route("/v2/models/{name:model}/versions/{version:model}/infer", v2_infer, ["POST"]),
        # tfdeploy's API, so that its clients work unchanged.
        route("/swagger.json", openapi, ["GET"]),
        route("/{signature}/predict", tfdeploy_predict, ["POST"]),
        route("/{signature}/predict/", tfdeploy_predict, ["POST"]),
    ]

    async def not_found(request, exc):
        return error(f"Malformed request: {request.method} {request.url.path}", 404)

    async def not_allowed(request, exc):
        return error(f"Method {request.method} is not allowed on {request.url.path}.", 405,
                     headers=getattr(exc, "headers", None))

    async def server_error(request, exc):
        # Not reached by any request we know of; if it is, the client still
        # gets the API's JSON body.
        return error(f"Internal error ({type(exc).__name__}).", 500)

    return Starlette(routes=routes, exception_handlers={
        404: not_found, 405: not_allowed, Exception: server_error})


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


def uvicorn_config(app, host, port, header_timeout=10.0, body_timeout=60.0,
                   max_connections=4096):
    """uvicorn's settings for the server: the connection limits of
    ``connections``, logging left to whoever configured it."""
    import uvicorn

    from kerasexport import connections

    protocol = connections.bounded_protocol(header_timeout=header_timeout,
                                            body_timeout=body_timeout,
                                            max_connections=max_connections)
    return uvicorn.Config(app, host=host, port=port, http=protocol, log_config=None,
                          log_level="info", access_log=False, timeout_keep_alive=5,
                          timeout_graceful_shutdown=5)


def main(argv=None):
    import uvicorn

    from kerasexport import connections

    parser = argparse.ArgumentParser(prog="python -m kerasexport.server")
    parser.add_argument("--path", required=True)
    parser.add_argument("--name", default=None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--max-request-bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES)
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--log-file", default=None)
    parser.add_argument("--header-timeout", type=float, default=10.0)
    parser.add_argument("--body-timeout", type=float, default=60.0)
    parser.add_argument("--max-connections", type=int, default=4096)
    parser.add_argument("--precision", default="float32",
                        help="what the runtime computes in (see predictor.Predictor)")
    args = parser.parse_args(argv)
    if args.log_file:
        connections.log_to_file(args.log_file)
    files = connections.raise_file_limit()
    name = args.name or re.sub(r"\.(onnx|tflite|xml|pt2)$", "", os.path.basename(os.path.normpath(args.path)))
    repository = ModelRepository(args.path, name, poll_seconds=args.poll_seconds,
                                 precision=args.precision)
    stop = threading.Event()
    threading.Thread(target=repository.watch, args=(stop,), daemon=True).start()
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid,), daemon=True).start()
    app = create_app(repository, max_request_bytes=args.max_request_bytes)
    config = uvicorn_config(app, args.host, args.port, header_timeout=args.header_timeout,
                            body_timeout=args.body_timeout,
                            max_connections=max(16, min(args.max_connections, files - 64)))
    server = uvicorn.Server(config)
    print(f"kerasexport: serving {name!r} (version {repository.latest}) at "
          f"http://{args.host}:{args.port}/", flush=True)
    try:
        asyncio.run(server.serve())
    finally:
        stop.set()
    if not server.started:
        raise SystemExit(1)  # could not bind: the log says why


if __name__ == "__main__":
    main()
