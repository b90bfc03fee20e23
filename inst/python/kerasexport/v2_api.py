"""The Open Inference Protocol (KServe V2), REST: what Triton, KServe and
their clients speak, next to TF-Serving's API on the same server.

    GET  /v2                                          server metadata
    GET  /v2/health/live, /v2/health/ready            health
    GET  /v2/models/{m}[/versions/{v}]                model metadata
    GET  /v2/models/{m}[/versions/{v}]/ready          model readiness
    POST /v2/models/{m}[/versions/{v}]/infer          inference

Tensors are typed (``name``, ``shape``, ``datatype``, ``data`` in row-major
order). With the binary tensor data extension, which Triton's own clients
use by default, an input's bytes follow the JSON part of the body
(``parameters.binary_data_size``; the JSON's length in the
``Inference-Header-Content-Length`` header), and outputs are answered the
same way when asked (``binary_data_output``, or ``binary_data`` per
output). Errors are 4xx with the protocol's ``{"error": "..."}`` body.
(kserve/open-inference-protocol, inference_rest.md; Triton's
protocol/extension_binary_data.md.)
"""

import numpy as np

from kerasexport import tfserving_api
from kerasexport.tfserving_api import RequestError

HEADER_LENGTH = "inference-header-content-length"
EXTENSIONS = ["binary_tensor_data"]

_DATATYPES = {"bool": "BOOL", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32",
              "uint64": "UINT64", "int8": "INT8", "int16": "INT16", "int32": "INT32",
              "int64": "INT64", "float16": "FP16", "float32": "FP32", "float64": "FP64",
              "string": "BYTES", "object": "BYTES"}
_NUMPY = {v: np.dtype(k) for k, v in _DATATYPES.items() if k not in ("string", "object")}
_REQUEST_KEYS = {"id", "parameters", "inputs", "outputs"}
_TENSOR_KEYS = {"name", "shape", "datatype", "parameters", "data"}


def datatype(dtype):
    return _DATATYPES.get(str(dtype), "BYTES")


def _shape(shape):
    return [-1 if d is None else int(d) for d in (shape or [])]


def server_metadata(version):
    return {"name": "kerasexport", "version": version or "unknown", "extensions": EXTENSIONS}


def model_metadata(name, versions, predictor):
    endpoint = predictor.signature()

    def tensor(t):
        return {"name": t["name"], "datatype": datatype(t["dtype"]), "shape": _shape(t["shape"])}

    return {"name": name, "versions": [str(v) for v in versions],
            "platform": {"tf_saved_model": "tensorflow_savedmodel", "onnx": "onnxruntime_onnx",
                         "litert": "tflite", "openvino": "openvino", "torch": "pytorch_libtorch"
                         }.get(predictor.format, predictor.format),
            "inputs": [tensor(t) for t in endpoint["inputs"]],
            "outputs": [tensor(t) for t in endpoint["outputs"]]}


def split_body(raw, headers):
    """(JSON bytes, binary bytes) of a request body."""
    declared = headers.get(HEADER_LENGTH)
    if declared is None:
        return raw, b""
    if not (declared.isascii() and declared.isdigit()) or int(declared) > len(raw):
        raise RequestError(f"Inference-Header-Content-Length {declared[:40]!r} is not the length "
                           "of the body's JSON part.")
    size = int(declared)
    return raw[:size], raw[size:]


def _fields(value, allowed, what, parameters_allowed=None):
    """The object's parameters, after checking its fields; with
    ``parameters_allowed``, parameters beyond those are refused (shared
    memory and the like, which this server does not offer)."""
    if not isinstance(value, dict):
        raise RequestError(f"{what} must be a JSON object.")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise RequestError(f"{what} has unknown field(s) {unknown}.")
    parameters = value.get("parameters", {})
    if not isinstance(parameters, dict):
        raise RequestError(f"{what}'s 'parameters' must be a JSON object.")
    if parameters_allowed is not None:
        unsupported = sorted(set(parameters) - parameters_allowed)
        if unsupported:
            raise RequestError(f"{what} has parameter(s) this server does not support: "
                               f"{unsupported}.")
    return parameters


def parse_infer(raw, headers, predictor):
    """The request's inputs by name (numpy arrays of the signature's
    dtypes), its id, the outputs asked for (None: all) and which of them go
    back as binary data."""
    json_part, binary = split_body(raw, headers)
    request = tfserving_api.parse_body(json_part)
    parameters = _fields(request, _REQUEST_KEYS, "The request")
    request_id = request.get("id")
    if "id" in request and not isinstance(request_id, str):
        raise RequestError("'id' must be a string.")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError("'inputs' must be a non-empty list of tensors.")
    specs = {t["name"]: t for t in predictor.signature()["inputs"]}
    feed, offset = {}, 0
    for i, tensor in enumerate(inputs):
        tensor_parameters = _fields(tensor, _TENSOR_KEYS, f"Input {i + 1}", {"binary_data_size"})
        name = tensor.get("name")
        if not isinstance(name, str) or name not in specs:
            raise RequestError(f"Input {i + 1} is named {name!r}; the model's inputs are "
                               f"{sorted(specs)}.")
        if name in feed:
            raise RequestError(f"Input {name!r} is given twice.")
        shape, dtype_name = tensor.get("shape"), tensor.get("datatype")
        if (not isinstance(shape, list) or not shape
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
            raise RequestError(f"Input {name!r} needs a 'shape': a list of sizes >= 0.")
        wanted = datatype(specs[name]["dtype"])
        if dtype_name == wanted == "BYTES":
            feed[name], offset = _bytes_input(name, tensor, tensor_parameters, shape, binary,
                                              offset)
            continue
        if dtype_name != wanted or dtype_name not in _NUMPY:
            # As Triton: the datatype must be the model's, not one that casts.
            raise RequestError(f"Input {name!r} has datatype {dtype_name!r}; the model takes "
                               f"{wanted}.")
        count = int(np.prod(shape, dtype=np.int64))
        size = tensor_parameters.get("binary_data_size")
        if size is not None:
            if "data" in tensor:
                raise RequestError(f"Input {name!r} has both 'data' and binary data.")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0 \
                    or offset + size > len(binary):
                raise RequestError(f"Input {name!r}: binary_data_size {size!r} does not fit the "
                                   "body's binary part.")
            if size != count * _NUMPY[dtype_name].itemsize:
                raise RequestError(f"Input {name!r}: {size} bytes do not hold shape {shape} of "
                                   f"{dtype_name}.")
            array = np.frombuffer(binary, dtype=_NUMPY[dtype_name], count=count,
                                  offset=offset).reshape(shape)
            offset += size
        else:
            if "data" not in tensor:
                raise RequestError(f"Input {name!r} has no 'data'.")
            array = _from_json(name, tensor["data"], dtype_name, shape, count, json_part)
        feed[name] = array
    if offset != len(binary):
        raise RequestError("The body's binary part is longer than the inputs' binary_data_size.")
    missing = sorted(set(specs) - set(feed))
    if missing:
        raise RequestError(f"The request has no input(s) {missing}.")
    output_names = [t["name"] for t in predictor.signature()["outputs"]]
    requested, binary_outputs = _requested_outputs(request, parameters, output_names)
    return feed, request_id, requested, binary_outputs


def _bytes_input(name, tensor, parameters, shape, binary, offset):
    """A BYTES tensor: strings in 'data', or in the binary part each element
    as a 4-byte little-endian length and its bytes (Triton's layout)."""
    count = int(np.prod(shape, dtype=np.int64))
    size = parameters.get("binary_data_size")
    if size is None:
        data = tensor.get("data")
        if not isinstance(data, list):
            raise RequestError(f"Input {name!r} has no 'data'.")
        values = []

        def walk(v):
            if isinstance(v, list):
                for x in v:
                    walk(x)
            elif isinstance(v, str):
                values.append(v)
            else:
                raise RequestError(f"Input {name!r} is BYTES: give strings.")

        walk(data)
    else:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 \
                or offset + size > len(binary):
            raise RequestError(f"Input {name!r}: binary_data_size {size!r} does not fit the "
                               "body's binary part.")
        chunk, values, at = binary[offset:offset + size], [], 0
        while at < len(chunk):
            if at + 4 > len(chunk):
                raise RequestError(f"Input {name!r}: a BYTES element's length is cut short.")
            length = int.from_bytes(chunk[at:at + 4], "little")
            if at + 4 + length > len(chunk):
                raise RequestError(f"Input {name!r}: a BYTES element is cut short.")
            values.append(chunk[at + 4:at + 4 + length])
            at += 4 + length
        offset += size
    if len(values) != count:
        raise RequestError(f"Input {name!r} holds {len(values)} values; shape {shape} holds "
                           f"{count}.")
    array = np.empty(count, dtype=object)
    array[:] = values
    return array.reshape(shape), offset


def _from_json(name, data, dtype_name, shape, count, raw):
    """The tensor's 'data' as an array of ``shape``, checked against the JSON
    types the datatype allows (see ``tfserving_api.json_array``)."""
    try:
        array = tfserving_api.json_array(data if isinstance(data, list) else [data],
                                         dtype_name == "BOOL", raw)
    except tfserving_api.JsonTypeProblem as problem:
        raise RequestError({
            "unreadable": f"Input {name!r}: 'data' cannot be read ({problem.detail}).",
            "wants booleans": f"Input {name!r} is BOOL: give true or false.",
            "has booleans": f"Input {name!r} is {dtype_name}: give numbers, not true or false.",
            "not numbers": f"Input {name!r}: 'data' holds null, text, objects or numbers out of "
                           "range; give numbers.",
        }[problem.kind]) from None
    if array.size != count:
        raise RequestError(f"Input {name!r}: 'data' holds {array.size} values; shape {shape} "
                           f"holds {count}.")
    return array.reshape(shape)


def _flag(parameters, key, what, default=False):
    value = parameters.get(key, default)
    if not isinstance(value, bool):
        raise RequestError(f"{what}'s parameter {key!r} must be true or false.")
    return value


def _requested_outputs(request, parameters, output_names):
    all_binary = _flag(parameters, "binary_data_output", "The request")
    if "outputs" not in request:
        return output_names, set(output_names) if all_binary else set()
    outputs = request["outputs"]
    if not isinstance(outputs, list) or not outputs:
        raise RequestError("'outputs' must be a non-empty list.")
    requested, binary = [], set()
    for i, output in enumerate(outputs):
        output_parameters = _fields(output, {"name", "parameters"}, f"Output {i + 1}",
                                    {"binary_data"})
        name = output.get("name")
        if name not in output_names:
            raise RequestError(f"Output {i + 1} is named {name!r}; the model's outputs are "
                               f"{output_names}.")
        requested.append(name)
        if _flag(output_parameters, "binary_data", f"Output {name!r}", all_binary):
            binary.add(name)
    return requested, binary


def infer_response(name, version, request_id, outputs, requested, binary_outputs):
    """(body bytes, headers) of an inference response."""
    tensors, blobs = [], []
    for output in requested:
        array = np.ascontiguousarray(outputs[output])
        tensor = {"name": output, "datatype": datatype(array.dtype), "shape": list(array.shape)}
        if array.dtype.kind in "OSU":
            tensor["datatype"] = "BYTES"
        if output in binary_outputs and array.dtype.kind in "OSU":
            values = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.flat]
            blob = b"".join(len(v).to_bytes(4, "little") + v for v in values)
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        elif array.dtype.kind in "OSU":
            tensor["data"] = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                              for v in array.flat]
        elif output in binary_outputs:
            blob = array.tobytes()
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = array.reshape(-1)
        tensors.append(tensor)
    body = {"model_name": name, "model_version": str(version), "outputs": tensors}
    if request_id is not None:
        body["id"] = request_id
    json_part = tfserving_api.encode(body)
    if not blobs:
        return json_part, {}
    return b"".join([json_part, *blobs]), {"Inference-Header-Content-Length": str(len(json_part))}


# --- the OpenAPI document --------------------------------------------------------

def openapi_paths(name, predictor, versions, errors):
    """The protocol's routes for the OpenAPI document (``tfserving_api``
    writes the rest). The infer request is documented exactly for a model
    with one input: one tensor of one instance (JSON Schema cannot tie a
    tensor's data to its shape); clients may send any batch."""
    from kerasexport.tfserving_api import _json
    from kerasexport.tfserving_api import _value_schema

    endpoint = predictor.signature()
    outputs = [t["name"] for t in endpoint["outputs"]]

    def tensor_schema(t):
        dims = [1 if d is None else d for d in (t["shape"] or [1])]
        dims[0] = 1
        count = int(np.prod(dims))
        return {"type": "object", "required": ["name", "shape", "datatype", "data"],
                "additionalProperties": False,
                "properties": {"name": {"type": "string", "enum": [t["name"]]},
                               "shape": {"type": "array", "enum": [dims]},
                               "datatype": {"type": "string", "enum": [datatype(t["dtype"])]},
                               "data": {"type": "array", "minItems": count, "maxItems": count,
                                        "items": {"type": "string"} if datatype(t["dtype"]) == "BYTES"
                                        else _value_schema(t["dtype"])},
                               "parameters": {"type": "object", "maxProperties": 0}}}

    inputs = endpoint["inputs"]
    request = {"type": "object", "required": ["inputs"], "additionalProperties": False,
               "properties": {
                   "id": {"type": "string"},
                   "parameters": {"type": "object", "properties": {
                       "binary_data_output": {"type": "boolean"}}},
                   "inputs": {"type": "array", "minItems": len(inputs), "maxItems": len(inputs),
                              "items": tensor_schema(inputs[0]) if len(inputs) == 1
                              else {"oneOf": [tensor_schema(t) for t in inputs]}},
                   "outputs": {"type": "array", "minItems": 1, "items": {
                       "type": "object", "required": ["name"], "additionalProperties": False,
                       "properties": {"name": {"type": "string", "enum": outputs},
                                      "parameters": {"type": "object", "additionalProperties": False,
                                                     "properties": {"binary_data": {
                                                         "type": "boolean"}}}}}}}}
    answer = {"type": "object", "required": ["model_name", "model_version", "outputs"],
              "properties": {"outputs": {"type": "array", "minItems": 1}}}
    metadata = {"type": "object", "required": ["name", "versions", "platform", "inputs", "outputs"]}
    ready = {"type": "object", "required": ["name", "ready"]}

    def get(schema, summary):
        return {"get": {"summary": summary, "responses": {"200": _json(schema, summary), **errors}}}

    paths = {"/v2": get({"type": "object", "required": ["name", "version", "extensions"]},
                        "Server metadata (Open Inference Protocol)"),
             "/v2/health/live": get({"type": "object"}, "Server live"),
             "/v2/health/ready": get({"type": "object"}, "Server ready")}
    for prefix in [f"/v2/models/{name}"] + [f"/v2/models/{name}/versions/{v}" for v in versions]:
        paths[prefix] = get(metadata, "Model metadata")
        paths[f"{prefix}/ready"] = get(ready, "Model ready")
        paths[f"{prefix}/infer"] = {"post": {
            "summary": "Inference (Open Inference Protocol; the binary tensor data extension "
                       "is supported too)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
            "responses": {"200": {
                "description": "Outputs: JSON, or with binary data asked for, the JSON part "
                               "(its length in Inference-Header-Content-Length) and the bytes",
                "content": {"application/json": {"schema": answer},
                            "application/octet-stream": {}}}, **errors}}}
    return paths
