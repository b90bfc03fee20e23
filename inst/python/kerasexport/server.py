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
<a href="/v1/models/{name}/metadata">metadata</a>, <a href="/metrics">metrics</a>).{others}</p>
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


def page(name, version, predictor, names=()):
    endpoint = predictor.signature()
    rows = "".join(
        f"<tr><td>{role}</td><td>{html.escape(t['name'])}</td><td>{html.escape(t['dtype'])}</td>"
        f"<td>({', '.join('NA' if d is None else str(d) for d in (t['shape'] or []))})</td></tr>"
        for role, key in (("input", "inputs"), ("output", "outputs")) for t in endpoint[key])
    example = json.dumps(api.example_request(endpoint))
    others = [n for n in names if n != name]
    others = (" Also served: " + ", ".join(
        f'<a href="/v1/models/{html.escape(n)}/metadata">{html.escape(n)}</a>' for n in others)
        + ".") if others else ""
    return PAGE.format(name=html.escape(name), version=version, rows=rows,
                       signature=html.escape(predictor.default_signature),
                       example=html.escape(example), others=others)


# --- the application -----------------------------------------------------------------

def create_app(models, max_request_bytes=DEFAULT_MAX_REQUEST_BYTES, batching=None, metrics=None,
               batchers=None):
    """The Starlette app serving ``models`` (a ModelSet, or one
    ModelRepository). ``batching``: a ``batching.Settings`` to merge
    concurrent requests, or None; ``batchers``, the ``batching.Batchers``
    to share with the gRPC service instead. ``metrics``: a
    ``metrics.Metrics``."""
    from kerasexport import batching as batching_module
    from kerasexport import metrics as metrics_module
    from kerasexport.repository import ModelSet

    if not isinstance(models, ModelSet):
        models = ModelSet([models])
    metrics = metrics or metrics_module.Metrics()
    batchers = batchers or batching_module.Batchers(batching, metrics)
    return _create_app(models, max_request_bytes, batchers, metrics, metrics_module)


def _create_app(models, max_request_bytes, batchers, metrics, metrics_module):
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
    budget = ByteBudget(2 * max_request_bytes)

    def error(message, status=400, headers=None):
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    def repository_for(request):
        return models.get(request.path_params["name"])

    def version_of(request, repository):
        label = request.path_params.get("label")
        if label is not None:
            return repository.label(label)
        text = request.path_params.get("version")
        if text is None:
            return None
        version = layout.parse_version(text)
        if version is None:
            raise NotServable(
                f"Servable not found for request: Specific({repository.name}, {text[:40]})")
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
        repository = repository_for(request)
        version = version_of(request, repository)
        repository.get(version)
        return JSONResponse(api.status_body([version or repository.latest]))

    async def metadata(request):
        repository = repository_for(request)
        version = version_of(request, repository)
        predictor = repository.get(version)
        return JSONResponse(api.metadata_body(repository.name, version or repository.latest,
                                              predictor))

    async def predict(request):
        repository = repository_for(request)
        return await answer_predict(request, repository, version_of(request, repository), None,
                                    None)

    async def tfdeploy_predict(request):
        # tfdeploy's route: POST /<signature_name>/predict with "instances".
        return await answer_predict(request, models.default, None,
                                    request.path_params["signature"], "tfdeploy")

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

    def parse_request(raw, predictor, signature_name):
        payload = api.parse_body(raw)
        signature_name = api.signature_name_of(payload, signature_name)
        inputs, layout = api.parse_request(payload, predictor, signature_name, raw)
        return inputs, layout, signature_name

    def encode_response(outputs, predictor, signature_name, layout_name):
        return api.encode(api.format_response(outputs, layout_name,
                                              predictor.output_names(signature_name)))

    def run_request(raw, predictor, signature_name, layout_name):
        """Parse, predict and encode, in a worker thread."""
        inputs, layout, signature_name = parse_request(raw, predictor, signature_name)
        outputs = run_model(predictor, inputs, signature_name)
        del inputs
        return encode_response(outputs, predictor, signature_name, layout_name or layout)

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

    async def batched(predictor, repository, version, inputs, signature_name):
        """The model's outputs for one request, merged with others by the
        predictor's batcher."""
        batcher = batchers.get(predictor, repository.name, version or repository.latest)
        try:
            return await batcher.predict(inputs, signature_name)
        except KerasExportError:
            raise
        except Exception as failure:  # the runtime refused these values
            raise InputError(f"The model could not run on this input "
                             f"({type(failure).__name__}: {str(failure).splitlines()[0][:300]})",
                             status=400) from None

    def note(request, repository, version):
        request.state.model = repository.name
        request.state.version = version or repository.latest

    async def answer_predict(request, repository, version, signature_name, layout_name):
        note(request, repository, version)
        declared = request.headers.get("content-length", "")
        size = int(declared) if declared.isascii() and declared.isdigit() else max_request_bytes
        async with budget.take(min(size, max_request_bytes)):
            raw = await read_body(request)
            predictor = repository.get(version)
            if not batchers.enabled():
                body = await work_on(run_request, raw, predictor, signature_name, layout_name)
                return Response(body, media_type="application/json")
            inputs, layout, signature_name = await work_on(parse_request, raw, predictor,
                                                           signature_name)
            outputs = await batched(predictor, repository, version, inputs, signature_name)
            body = encode_response(outputs, predictor, signature_name, layout_name or layout)
        return Response(body, media_type="application/json")

    # --- the Open Inference Protocol (KServe V2) ---

    async def v2_server(request):
        from kerasexport.metadata import package_version

        return JSONResponse(v2_api.server_metadata(package_version()))

    async def v2_live(request):
        return JSONResponse({"live": True})

    async def v2_ready(request):
        return JSONResponse({"ready": all(r.latest is not None for r in models)})

    async def v2_model(request):
        repository = repository_for(request)
        version = version_of(request, repository)
        predictor = repository.get(version)
        versions = [version] if version is not None else repository.versions()
        return JSONResponse(v2_api.model_metadata(repository.name, versions, predictor))

    async def v2_model_ready(request):
        repository = repository_for(request)
        repository.get(version_of(request, repository))
        return JSONResponse({"name": repository.name, "ready": True})

    def run_infer(raw, predictor, headers, name, version):
        """Parse, predict and encode a V2 request, in a worker thread."""
        feed, request_id, requested, binary = v2_api.parse_infer(raw, headers, predictor)
        outputs = run_model(predictor, feed, None)
        return v2_api.infer_response(name, version, request_id, outputs, requested, binary)

    async def v2_infer(request):
        repository = repository_for(request)
        version = version_of(request, repository)
        note(request, repository, version)
        declared = request.headers.get("content-length", "")
        size = int(declared) if declared.isascii() and declared.isdigit() else max_request_bytes
        async with budget.take(min(size, max_request_bytes)):
            raw = await read_body(request)
            predictor = repository.get(version)
            served = version or repository.latest
            if not batchers.enabled():
                body, headers = await work_on(run_infer, raw, predictor, request.headers,
                                              repository.name, served)
            else:
                feed, request_id, requested, binary = await work_on(
                    lambda raw, predictor: v2_api.parse_infer(raw, request.headers, predictor),
                    raw, predictor)
                outputs = await batched(predictor, repository, version, feed, None)
                body, headers = v2_api.infer_response(repository.name, served, request_id,
                                                      outputs, requested, binary)
        return Response(body, media_type="application/json" if not headers
                        else "application/octet-stream", headers=headers)

    async def home(request):
        default = models.default
        return HTMLResponse(page(default.name, default.latest, default.get(), models.names))

    async def openapi(request):
        return JSONResponse(api.openapi_document(
            [(r.name, r.get(), r.versions()) for r in models]))

    async def prometheus(request):
        metrics.loaded_versions(models)
        return Response(metrics.text(), headers={"Content-Type": metrics_module.CONTENT_TYPE})

    def route(path, handler, methods, protocol=None):
        """A route; with ``protocol``, its requests are counted and timed
        (``metrics``)."""
        if protocol is None:
            async def endpoint(request):
                return await guarded(handler, request)
        else:
            async def endpoint(request):
                started = time.perf_counter()
                response = await guarded(handler, request)
                metrics.request(getattr(request.state, "model", request.path_params.get("name")),
                                getattr(request.state, "version", None), protocol,
                                response.status_code, time.perf_counter() - started)
                return response
        return Route(path, endpoint, methods=methods)

    routes = [
        route("/", home, ["GET"]),
        route("/openapi.json", openapi, ["GET"]),
        route("/metrics", prometheus, ["GET"]),
        route("/v1/models/{name:model}:predict", predict, ["POST"], "rest"),
        route("/v1/models/{name:model}/versions/{version:model}:predict", predict, ["POST"], "rest"),
        route("/v1/models/{name:model}/labels/{label:model}:predict", predict, ["POST"], "rest"),
        route("/v1/models/{name:model}", status, ["GET"]),
        route("/v1/models/{name:model}/versions/{version:model}", status, ["GET"]),
        route("/v1/models/{name:model}/labels/{label:model}", status, ["GET"]),
        route("/v1/models/{name:model}/metadata", metadata, ["GET"]),
        route("/v1/models/{name:model}/versions/{version:model}/metadata", metadata, ["GET"]),
        route("/v1/models/{name:model}/labels/{label:model}/metadata", metadata, ["GET"]),
        # The Open Inference Protocol (KServe V2), for Triton's and KServe's clients.
        route("/v2", v2_server, ["GET"]),
        route("/v2/health/live", v2_live, ["GET"]),
        route("/v2/health/ready", v2_ready, ["GET"]),
        route("/v2/models/{name:model}", v2_model, ["GET"]),
        route("/v2/models/{name:model}/ready", v2_model_ready, ["GET"]),
        route("/v2/models/{name:model}/infer", v2_infer, ["POST"], "v2"),
        route("/v2/models/{name:model}/versions/{version:model}", v2_model, ["GET"]),
        route("/v2/models/{name:model}/versions/{version:model}/ready", v2_model_ready, ["GET"]),
        route("/v2/models/{name:model}/versions/{version:model}/infer", v2_infer, ["POST"], "v2"),
        # tfdeploy's API, so that its clients work unchanged.
        route("/swagger.json", openapi, ["GET"]),
        route("/{signature}/predict", tfdeploy_predict, ["POST"], "rest"),
        route("/{signature}/predict/", tfdeploy_predict, ["POST"], "rest"),
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


def models_from(args):
    """The ModelSet that the command line names."""
    from kerasexport.repository import ModelSet
    from kerasexport.repository import read_model_config

    def repository(path, name, policy=None, labels=None):
        return ModelRepository(path, name, poll_seconds=args.poll_seconds,
                               precision=args.precision, policy=policy, labels=labels)

    entries = []
    if args.model_config_file:
        entries += [repository(path, name, policy, labels)
                    for name, path, policy, labels in read_model_config(args.model_config_file)]
    for named in args.model or []:
        name, _, path = named.partition("=")
        entries.append(repository(path, name))
    if args.path:
        name = args.name or re.sub(r"\.(onnx|tflite|xml|pt2)$", "",
                                   os.path.basename(os.path.normpath(args.path)))
        entries.insert(0, repository(args.path, name))
    return ModelSet(entries)


def main(argv=None):
    import uvicorn

    from kerasexport import batching
    from kerasexport import connections
    from kerasexport import metrics as metrics_module

    parser = argparse.ArgumentParser(prog="python -m kerasexport.server")
    parser.add_argument("--path", default=None, help="one model: an artifact or a folder of versions")
    parser.add_argument("--name", default=None)
    parser.add_argument("--model", action="append", metavar="NAME=PATH",
                        help="a model to serve (repeat for several)")
    parser.add_argument("--model-config-file", default=None,
                        help="TF-Serving's model config file (text ModelServerConfig)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--grpc-port", type=int, default=None,
                        help="also serve TF-Serving's and the Open Inference Protocol's gRPC APIs")
    parser.add_argument("--max-request-bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES)
    parser.add_argument("--max-batch-size", type=int, default=0,
                        help="merge concurrent requests up to this many instances (0: no batching)")
    parser.add_argument("--max-queue-delay", type=float, default=0.0,
                        help="seconds a batch that is not full waits for more requests")
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--log-file", default=None)
    parser.add_argument("--header-timeout", type=float, default=10.0)
    parser.add_argument("--body-timeout", type=float, default=60.0)
    parser.add_argument("--max-connections", type=int, default=4096)
    parser.add_argument("--precision", default="float32",
                        help="what the runtime computes in (see predictor.Predictor)")
    args = parser.parse_args(argv)
    if not (args.path or args.model or args.model_config_file):
        parser.error("give --path, --model or --model-config-file")
    if args.log_file:
        connections.log_to_file(args.log_file)
    files = connections.raise_file_limit()
    models = models_from(args)
    stop = threading.Event()
    models.watch(stop)
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid,), daemon=True).start()
    settings = batching.Settings(args.max_batch_size, args.max_queue_delay) \
        if args.max_batch_size > 0 else None
    metrics = metrics_module.Metrics()
    # One batcher per model version, shared by REST and gRPC.
    batchers = batching.Batchers(settings, metrics)
    app = create_app(models, max_request_bytes=args.max_request_bytes, metrics=metrics,
                     batchers=batchers)
    config = uvicorn_config(app, args.host, args.port, header_timeout=args.header_timeout,
                            body_timeout=args.body_timeout,
                            max_connections=max(16, min(args.max_connections, files - 64)))
    server = uvicorn.Server(config)
    served = ", ".join(f"{r.name!r} (version {r.latest})" for r in models)
    print(f"kerasexport: serving {served} at http://{args.host}:{args.port}/"
          + (f" and gRPC on {args.host}:{args.grpc_port}" if args.grpc_port else ""), flush=True)

    async def serve():
        grpc_server = None
        if args.grpc_port:
            from kerasexport import grpc_service

            grpc_server = await grpc_service.start(
                models, f"{args.host}:{args.grpc_port}", max_message_bytes=args.max_request_bytes,
                batchers=batchers, metrics=metrics)
        try:
            await server.serve()
        finally:
            if grpc_server is not None:
                await grpc_server.stop(grace=5)

    try:
        asyncio.run(serve())
    finally:
        stop.set()
    if not server.started:
        raise SystemExit(1)  # could not bind: the log says why


if __name__ == "__main__":
    main()
