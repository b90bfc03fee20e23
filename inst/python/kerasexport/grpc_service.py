"""gRPC beside REST, on the same models, batching and metrics (``server``
starts it on ``--grpc-port``, in the same event loop):

* TF-Serving's ``tensorflow.serving.PredictionService`` (``Predict``,
  ``GetModelMetadata``) and ``ModelService`` (``GetModelStatus``), with
  TF-Serving's own messages (PyPI ``tensorflow-serving-api``), so that its
  Python client's ``PredictionServiceStub`` works unchanged;
* the Open Inference Protocol's ``inference.GRPCInferenceService``
  (``ServerLive``, ``ServerReady``, ``ModelReady``, ``ServerMetadata``,
  ``ModelMetadata``, ``ModelInfer``), which Triton's and KServe's clients
  speak (``v2_grpc_protos``).

Errors are gRPC status codes, with the same words as REST's: a request that
does not fit the model is INVALID_ARGUMENT, a model or version that is not
served NOT_FOUND, a message over the size limit RESOURCE_EXHAUSTED (gRPC's
own check, at ``max_message_bytes``, as REST's 413), a method the server does
not offer UNIMPLEMENTED. Nothing from a request is ever evaluated.
"""

import time

import numpy as np

from kerasexport import tfserving_api
from kerasexport import v2_api
from kerasexport import versions as layout
from kerasexport.errors import KerasExportError
from kerasexport.predictor import InputError
from kerasexport.repository import NotServable

# TF-Serving's DataType enum values (tensorflow/core/framework/types.proto).
_DT = {"float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6, "string": 7,
       "int64": 9, "bool": 10, "float16": 19, "object": 7}


async def start(models, address, max_message_bytes, batchers, metrics):
    """Start the gRPC server at ``address`` ("host:port"); returns it."""
    import grpc

    options = [("grpc.max_receive_message_length", max_message_bytes),
               ("grpc.max_send_message_length", max_message_bytes)]
    server = grpc.aio.server(options=options, maximum_concurrent_rpcs=1024)
    service = _Service(models, batchers, metrics)
    server.add_generic_rpc_handlers([service.v2_handler()])
    try:
        handlers = service.tf_serving_handlers()
    except ImportError:  # tensorflow-serving-api is optional: V2 still serves
        handlers = []
    for handler in handlers:
        server.add_generic_rpc_handlers([handler])
    if server.add_insecure_port(address) == 0:
        raise OSError(f"gRPC could not bind {address}")
    await server.start()
    return server


class _Service:
    def __init__(self, models, batchers, metrics):
        self.models = models
        self.batchers = batchers
        self.metrics = metrics

    # --- shared ---------------------------------------------------------------------

    def _version(self, repository, text, label=None):
        if label:
            return repository.label(label)
        if text in (None, "", 0):
            return None
        version = layout.parse_version(str(text))
        if version is None:
            raise NotServable(f"Servable not found for request: Specific({repository.name}, "
                              f"{str(text)[:40]})")
        return version

    async def _predict(self, predictor, repository, version, inputs, signature_name):
        from starlette.concurrency import run_in_threadpool

        try:
            if self.batchers.enabled():
                batcher = self.batchers.get(predictor, repository.name, version or repository.latest)
                return await batcher.predict(inputs, signature_name)
            return await run_in_threadpool(predictor.predict, inputs, signature_name)
        except KerasExportError:
            raise
        except Exception as failure:  # the runtime refused these values
            raise InputError(f"The model could not run on this input "
                             f"({type(failure).__name__}: {str(failure).splitlines()[0][:300]})",
                             status=400) from None

    async def _call(self, context, protocol, work, labels):
        """Run ``work()``; turn kerasexport's errors into status codes, and
        count and time the call."""
        import grpc

        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return await work()
        except NotServable as failure:
            code, message = grpc.StatusCode.NOT_FOUND, str(failure)
        except (InputError, tfserving_api.RequestError) as failure:
            code, message = grpc.StatusCode.INVALID_ARGUMENT, str(getattr(failure, "message",
                                                                          failure))
        except KerasExportError as failure:
            code, message = grpc.StatusCode.INVALID_ARGUMENT, failure.message
        except Exception as failure:  # not reached by any request we know of
            code, message = grpc.StatusCode.INTERNAL, f"Internal error ({type(failure).__name__})."
        finally:
            if protocol is not None:
                self.metrics.request(labels.get("model"), labels.get("version"), protocol,
                                     code.name, time.perf_counter() - started)
        await context.abort(code, message)

    # --- TF-Serving --------------------------------------------------------------------

    def tf_serving_handlers(self):
        import grpc
        from tensorflow_serving.apis import get_model_metadata_pb2
        from tensorflow_serving.apis import get_model_status_pb2
        from tensorflow_serving.apis import predict_pb2

        unary = _unary
        prediction = grpc.method_handlers_generic_handler("tensorflow.serving.PredictionService", {
            "Predict": unary(self.predict, predict_pb2.PredictRequest, predict_pb2.PredictResponse),
            "GetModelMetadata": unary(self.metadata, get_model_metadata_pb2.GetModelMetadataRequest,
                                      get_model_metadata_pb2.GetModelMetadataResponse),
        })
        model = grpc.method_handlers_generic_handler("tensorflow.serving.ModelService", {
            "GetModelStatus": unary(self.model_status, get_model_status_pb2.GetModelStatusRequest,
                                    get_model_status_pb2.GetModelStatusResponse),
        })
        return [prediction, model]

    def _tf_spec(self, spec):
        repository = self.models.get(spec.name)
        version = self._version(repository, spec.version.value if spec.HasField("version") else None,
                                spec.version_label)
        return repository, version

    async def predict(self, request, context):
        from tensorflow_serving.apis import predict_pb2
        import tensorflow as tf

        labels = {"model": request.model_spec.name}

        async def work():
            repository, version = self._tf_spec(request.model_spec)
            served = version or repository.latest
            labels["version"] = served
            predictor = repository.get(version)
            signature = request.model_spec.signature_name or None
            specs = {t["name"]: t for t in predictor.signature(signature)["inputs"]}
            inputs = {}
            for name, proto in request.inputs.items():
                if name not in specs:
                    raise InputError(f"Input {name!r} is not one of the signature's inputs "
                                     f"{sorted(specs)}.", status=400)
                try:
                    inputs[name] = tf.make_ndarray(proto)
                except Exception as failure:
                    raise InputError(f"Input {name!r} is not a readable TensorProto "
                                     f"({type(failure).__name__}).", status=400) from None
            outputs = await self._predict(predictor, repository, version, inputs, signature)
            wanted = list(request.output_filter) or list(outputs)
            unknown = [n for n in wanted if n not in outputs]
            if unknown:
                raise InputError(f"output_filter names outputs the model does not have: "
                                 f"{unknown}; it has {sorted(outputs)}.", status=400)
            response = predict_pb2.PredictResponse()
            response.model_spec.name = repository.name
            response.model_spec.version.value = served
            response.model_spec.signature_name = signature or predictor.default_signature
            for name in wanted:
                response.outputs[name].CopyFrom(tf.make_tensor_proto(_tf_array(outputs[name])))
            return response

        return await self._call(context, "grpc", work, labels)

    async def metadata(self, request, context):
        from tensorflow_serving.apis import get_model_metadata_pb2

        async def work():
            if list(request.metadata_field) != ["signature_def"]:
                raise InputError("Metadata field(s) other than 'signature_def' are not served: "
                                 f"{list(request.metadata_field)}.", status=400)
            repository, version = self._tf_spec(request.model_spec)
            predictor = repository.get(version)
            signatures = get_model_metadata_pb2.SignatureDefMap()
            for name in predictor.signature_names:
                endpoint = predictor.signature(name)
                signature = signatures.signature_def[name]
                signature.method_name = "tensorflow/serving/predict"
                for role, target in (("inputs", signature.inputs), ("outputs", signature.outputs)):
                    for tensor in endpoint[role]:
                        info = target[tensor["name"]]
                        info.name = tensor["name"]
                        info.dtype = _DT.get(tensor["dtype"], 0)
                        if tensor["shape"] is None:
                            info.tensor_shape.unknown_rank = True
                        for size in tensor["shape"] or []:
                            info.tensor_shape.dim.add(size=-1 if size is None else size)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = repository.name
            response.model_spec.version.value = version or repository.latest
            response.metadata["signature_def"].Pack(signatures)
            return response

        return await self._call(context, None, work, {})

    async def model_status(self, request, context):
        from tensorflow_serving.apis import get_model_status_pb2

        async def work():
            repository, version = self._tf_spec(request.model_spec)
            versions = [version] if version is not None else [repository.latest]
            repository.get(version)
            response = get_model_status_pb2.GetModelStatusResponse()
            for number in versions:
                status = response.model_version_status.add(version=number)
                status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
            return response

        return await self._call(context, None, work, {})

    # --- the Open Inference Protocol ------------------------------------------------------

    def v2_handler(self):
        import grpc

        from kerasexport import v2_grpc_protos

        classes = v2_grpc_protos.messages()
        functions = {"ServerLive": self.v2_live, "ServerReady": self.v2_ready,
                     "ModelReady": self.v2_model_ready, "ServerMetadata": self.v2_server_metadata,
                     "ModelMetadata": self.v2_model_metadata, "ModelInfer": self.v2_infer}
        self._v2 = classes
        return grpc.method_handlers_generic_handler(v2_grpc_protos.SERVICE, {
            method: _unary(functions[method], classes[request], classes[response])
            for method, request, response in v2_grpc_protos.METHODS})

    async def v2_live(self, request, context):
        return self._v2["ServerLiveResponse"](live=True)

    async def v2_ready(self, request, context):
        return self._v2["ServerReadyResponse"](ready=all(r.latest is not None for r in self.models))

    async def v2_server_metadata(self, request, context):
        from kerasexport.metadata import package_version

        body = v2_api.server_metadata(package_version())
        return self._v2["ServerMetadataResponse"](name=body["name"], version=body["version"],
                                                  extensions=body["extensions"])

    async def v2_model_ready(self, request, context):
        async def work():
            repository = self.models.get(request.name)
            repository.get(self._version(repository, request.version))
            return self._v2["ModelReadyResponse"](ready=True)

        return await self._call(context, None, work, {})

    async def v2_model_metadata(self, request, context):
        async def work():
            repository = self.models.get(request.name)
            version = self._version(repository, request.version)
            predictor = repository.get(version)
            versions = [version] if version is not None else repository.versions()
            body = v2_api.model_metadata(repository.name, versions, predictor)
            response = self._v2["ModelMetadataResponse"](
                name=body["name"], versions=body["versions"], platform=body["platform"])
            for role in ("inputs", "outputs"):
                for tensor in body[role]:
                    getattr(response, role).add(name=tensor["name"], datatype=tensor["datatype"],
                                                shape=tensor["shape"])
            return response

        return await self._call(context, None, work, {})

    async def v2_infer(self, request, context):
        labels = {"model": request.model_name}

        async def work():
            repository = self.models.get(request.model_name)
            version = self._version(repository, request.model_version)
            served = version or repository.latest
            labels["version"] = served
            predictor = repository.get(version)
            feed = v2_grpc_inputs(request, predictor)
            outputs = await self._predict(predictor, repository, version, feed, None)
            names = [o.name for o in request.outputs] or predictor.output_names()
            unknown = [n for n in names if n not in outputs]
            if unknown:
                raise InputError(f"Output(s) {unknown} are not the model's: {sorted(outputs)}.",
                                 status=400)
            response = self._v2["ModelInferResponse"](model_name=repository.name,
                                                      model_version=str(served), id=request.id)
            for name in names:
                array = np.ascontiguousarray(outputs[name])
                datatype = "BYTES" if array.dtype.kind in "OSU" else v2_api.datatype(array.dtype)
                response.outputs.add(name=name, datatype=datatype, shape=list(array.shape))
                response.raw_output_contents.append(_raw(array))
            return response

        return await self._call(context, "v2-grpc", work, labels)


def _unary(function, request_class, response_class):
    """A unary method whose request is parsed here, so that bytes that are
    not a ``request_class`` message get INVALID_ARGUMENT (gRPC's own
    parsing would answer UNKNOWN)."""
    import grpc
    from google.protobuf.message import DecodeError

    async def handler(raw, context):
        try:
            request = request_class.FromString(raw)
        except (DecodeError, ValueError, RuntimeWarning):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"The request is not a valid {request_class.DESCRIPTOR.full_name}.")
        return await function(request, context)

    return grpc.unary_unary_rpc_method_handler(
        handler, request_deserializer=None, response_serializer=response_class.SerializeToString)


def v2_grpc_inputs(request, predictor):
    """A ModelInferRequest's inputs as arrays by name, from raw contents (as
    Triton's client sends them) or typed contents; checked as REST's are."""
    specs = {t["name"]: t for t in predictor.signature()["inputs"]}
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise InputError(f"The request has {len(raw)} raw input contents for "
                         f"{len(request.inputs)} inputs.", status=400)
    feed = {}
    for i, tensor in enumerate(request.inputs):
        if tensor.name not in specs:
            raise InputError(f"Input {i + 1} is named {tensor.name!r}; the model's inputs are "
                             f"{sorted(specs)}.", status=400)
        if tensor.name in feed:
            raise InputError(f"Input {tensor.name!r} is given twice.", status=400)
        wanted = v2_api.datatype(specs[tensor.name]["dtype"])
        if tensor.datatype != wanted:
            raise InputError(f"Input {tensor.name!r} has datatype {tensor.datatype!r}; the model "
                             f"takes {wanted}.", status=400)
        shape = list(tensor.shape)
        if not shape or any(d < 0 for d in shape):
            raise InputError(f"Input {tensor.name!r} needs a 'shape' of sizes >= 0.", status=400)
        count = int(np.prod(shape, dtype=np.int64))
        if raw:
            array = _from_raw(tensor.name, raw[i], wanted, count)
        else:
            array = _from_contents(tensor.name, tensor.contents, wanted, count)
        feed[tensor.name] = array.reshape(shape)
    missing = sorted(set(specs) - set(feed))
    if missing:
        raise InputError(f"The request has no input(s) {missing}.", status=400)
    return feed


_CONTENTS = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
             "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
             "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
             "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents"}


def _from_contents(name, contents, datatype, count):
    values = list(getattr(contents, _CONTENTS.get(datatype, "fp32_contents")))
    if len(values) != count:
        raise InputError(f"Input {name!r} holds {len(values)} values; its shape holds {count}.",
                         status=400)
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = values
        return array
    return np.asarray(values, dtype=v2_api._NUMPY[datatype])


def _from_raw(name, data, datatype, count):
    if datatype == "BYTES":
        values, at = [], 0
        while at < len(data):
            if at + 4 > len(data):
                raise InputError(f"Input {name!r}: a BYTES element's length is cut short.",
                                 status=400)
            length = int.from_bytes(data[at:at + 4], "little")
            if at + 4 + length > len(data):
                raise InputError(f"Input {name!r}: a BYTES element is cut short.", status=400)
            values.append(data[at + 4:at + 4 + length])
            at += 4 + length
        if len(values) != count:
            raise InputError(f"Input {name!r} holds {len(values)} values; its shape holds {count}.",
                             status=400)
        array = np.empty(count, dtype=object)
        array[:] = values
        return array
    dtype = v2_api._NUMPY[datatype]
    if len(data) != count * dtype.itemsize:
        raise InputError(f"Input {name!r}: {len(data)} bytes do not hold {count} {datatype} "
                         "values.", status=400)
    return np.frombuffer(data, dtype=dtype, count=count)


def _raw(array):
    if array.dtype.kind in "OSU":
        values = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.flat]
        return b"".join(len(v).to_bytes(4, "little") + v for v in values)
    return array.tobytes()


def _tf_array(array):
    """Text as bytes for a TensorProto (which holds DT_STRING as bytes)."""
    array = np.asarray(array)
    if array.dtype.kind in "OU":
        return np.vectorize(lambda v: v.encode("utf-8") if isinstance(v, str) else v,
                            otypes=[object])(array)
    return array
