"""TF-Serving's REST API, the JSON side: requests to arrays, arrays to
responses, model status and metadata bodies, and the OpenAPI document that
describes them for one model. (tfdeploy's route takes the same requests.)

The OpenAPI document is exact for the model's default signature: a body it
accepts is one the server answers with 200, and a body it refuses gets a 4xx,
so that a client generated from it, or an API fuzzer, can trust it."""

import json
import math

import numpy as np

try:
    import orjson
except ImportError:  # an environment made before kerasexport pinned it
    orjson = None

DTYPE_NAMES = {"float16": "DT_HALF", "float32": "DT_FLOAT", "float64": "DT_DOUBLE",
               "int8": "DT_INT8", "int16": "DT_INT16", "int32": "DT_INT32", "int64": "DT_INT64",
               "uint8": "DT_UINT8", "bool": "DT_BOOL", "string": "DT_STRING",
               "object": "DT_STRING"}

_BODY_KEYS = {"instances", "inputs", "signature_name"}


class RequestError(Exception):
    """The request is malformed: HTTP ``status`` with TF-Serving's error body."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


# --- requests -------------------------------------------------------------------

def parse_body(raw):
    """The JSON body of a request, with JSON's limits turned into 400s.

    orjson parses several times faster than the json module, and parsing
    holds the GIL, so the event loop waits for it; the json module takes
    what orjson refuses: NaN and Infinity (which TF-Serving accepts),
    integers beyond 64 bits, nesting beyond 1024 levels."""
    if orjson is not None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(raw)
    except RecursionError:
        raise RequestError("JSON Parse error: the body is nested too deeply.") from None
    except (UnicodeDecodeError, ValueError) as failure:
        raise RequestError(f"JSON Parse error: {failure}") from None


def _contains_null(value):
    if value is None:
        return True
    if isinstance(value, list):
        return any(_contains_null(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_null(v) for v in value.values())
    return False


def signature_name_of(body, default=None):
    if not isinstance(body, dict) or "signature_name" not in body:
        return default
    name = body["signature_name"]
    if not isinstance(name, str):
        raise RequestError("'signature_name' must be a string.")
    return name


def parse_request(body, predictor, signature_name, raw=b""):
    """The inputs by name, and the layout ("row" or "columnar") to answer in."""
    if not isinstance(body, dict):
        raise RequestError("JSON Value: request body must be a JSON object.")
    unknown = sorted(set(body) - _BODY_KEYS)
    if unknown:
        raise RequestError(f"JSON Value: unknown field(s) {unknown}; a request has "
                           "'instances' or 'inputs', and optionally 'signature_name'.")
    has_rows, has_columns = "instances" in body, "inputs" in body
    if has_rows == has_columns:
        raise RequestError("JSON Value: exactly one of 'instances' (row format) or 'inputs' "
                           "(columnar format) must be given.")
    data = body["instances"] if has_rows else body["inputs"]
    # null is no number: refuse it rather than predict from NaN (NaN and
    # Infinity, which TF-Serving takes, stay allowed). Only a body that
    # holds "null" at all is searched.
    if b"null" in raw and _contains_null(data):
        raise RequestError(f"'{'instances' if has_rows else 'inputs'}' holds null, which is not "
                           "a value; send a number (NaN is allowed).")
    specs = predictor.signature(signature_name)["inputs"]
    names = [s["name"] for s in specs]
    inputs, layout = _inputs_by_name(has_rows, data, names)
    _check_json_types(inputs, specs, raw)
    return inputs, layout


def _inputs_by_name(has_rows, data, names):
    if has_rows:
        if not isinstance(data, list):
            raise RequestError("'instances' must be a JSON list.")
        if not data:
            raise RequestError("'instances' is empty: there is nothing to predict.")
        if all(isinstance(r, dict) for r in data):
            keys = set(data[0])
            if any(set(r) != keys for r in data):
                raise RequestError("Every instance must name the same inputs.")
            return {k: [r[k] for r in data] for k in keys}, "row"
        if any(isinstance(r, dict) for r in data):
            raise RequestError("Instances must be all objects or all values.")
        if len(names) != 1:
            raise RequestError(f"The signature has {len(names)} inputs {names}: give each "
                               "instance as an object naming them.")
        return {names[0]: data}, "row"
    if isinstance(data, dict):
        return data, "columnar"
    if len(names) != 1:
        raise RequestError(f"The signature has {len(names)} inputs {names}: give 'inputs' as an "
                           "object naming them.")
    return {names[0]: data}, "columnar"


def _holds(value, kind):
    if isinstance(value, list):
        return any(_holds(v, kind) for v in value)
    return isinstance(value, kind)


class JsonTypeProblem(Exception):
    """What is wrong with an input's JSON types: ``kind`` is "unreadable"
    (numpy's reason in ``detail``), "wants booleans", "has booleans" (true
    or false among numbers) or "not numbers" (null, text, objects, nested
    lists of different lengths). Each API words it for its own clients."""

    def __init__(self, kind, detail=""):
        super().__init__(kind)
        self.kind, self.detail = kind, detail


def json_array(value, boolean, raw):
    """``value`` (parsed JSON) as a numpy array, if its JSON types fit an
    input of booleans (``boolean``) or of numbers: numpy alone would read
    true as 1 and "0.5" as 0.5. ``raw`` is the request body; the lists are
    walked for booleans among numbers only when it holds true or false.
    Raises JsonTypeProblem."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError) as failure:
        raise JsonTypeProblem("unreadable", str(failure)) from None
    kind = array.dtype.kind
    if boolean:
        if kind != "b":
            raise JsonTypeProblem("wants booleans")
    elif kind == "b" or (kind in "iuf" and (b"true" in raw or b"false" in raw)
                         and _holds(value, bool)):
        raise JsonTypeProblem("has booleans")
    elif kind not in "iuf":
        raise JsonTypeProblem("not numbers")
    return array


def text_array(value, name, raw):
    """A text input's JSON (strings, nested lists of them, and TF-Serving's
    ``{"b64": "..."}`` for bytes) as an array of str and bytes."""
    import base64
    import binascii

    def leaf(v):
        if isinstance(v, str):
            return v
        if isinstance(v, dict) and set(v) == {"b64"} and isinstance(v["b64"], str):
            try:
                return base64.b64decode(v["b64"], validate=True)
            except (binascii.Error, ValueError):
                raise RequestError(f"Input {name!r}: a 'b64' value is not base64.") from None
        raise RequestError(f"Input {name!r} takes text: give strings, or {{\"b64\": ...}} for "
                           "bytes.")

    def walk(v):
        return [walk(x) for x in v] if isinstance(v, list) else leaf(v)

    converted = walk(value)
    try:
        array = np.empty(np.shape(np.asarray(converted, dtype=object)), dtype=object)
        array[...] = np.asarray(converted, dtype=object)
    except ValueError:
        raise RequestError(f"Input {name!r}: nested lists of different lengths.") from None
    return array


def _check_json_types(inputs, specs, raw):
    """Each input as a numpy array, checked against the JSON types the API's
    schema allows (see ``json_array``). Replaces the lists in ``inputs``; the
    predictor casts the arrays."""
    for spec in specs:
        name, dtype = spec["name"], spec["dtype"]
        if name not in inputs:
            continue
        if dtype in ("string", "object"):
            inputs[name] = text_array(inputs[name], name, raw)
            continue
        try:
            inputs[name] = json_array(inputs[name], dtype == "bool", raw)
        except JsonTypeProblem as problem:
            raise RequestError({
                "unreadable": f"Input {name!r} cannot be read as {dtype}: {problem.detail}",
                "wants booleans": f"Input {name!r} is boolean: give true or false.",
                "has booleans": f"Input {name!r} takes numbers; it holds true or false.",
                "not numbers": f"Input {name!r} takes numbers; it holds text, objects or nested "
                               "lists of different lengths.",
            }[problem.kind]) from None


# --- responses ------------------------------------------------------------------

def _to_json(value):
    array = np.asarray(value)
    if array.dtype.kind in "OS":
        return np.vectorize(_text_value, otypes=[object])(array).tolist() if array.size else []
    if array.dtype.kind == "f":
        array = array.astype(np.float64)
        if not np.all(np.isfinite(array)):
            return [_finite(v) for v in array.tolist()] if array.ndim else _finite(float(array))
    return array.tolist()


def _text_value(value):
    """Text for JSON: bytes that are not UTF-8 go as TF-Serving's b64."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            import base64

            return {"b64": base64.b64encode(value).decode("ascii")}
    return value


def _finite(value):
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value if math.isfinite(value) else None


def format_response(outputs, layout, output_names):
    """The response body, holding numpy arrays (see ``encode``): TF-Serving's
    row ("predictions") or columnar ("outputs") format, or tfdeploy's, which
    names every output per instance."""
    columns = {k: np.ascontiguousarray(outputs[k]) for k in output_names}
    if layout == "columnar":
        if len(output_names) == 1:
            return {"outputs": columns[output_names[0]]}
        return {"outputs": columns}
    if len(output_names) == 1 and layout != "tfdeploy":
        return {"predictions": columns[output_names[0]]}
    count = len(next(iter(columns.values())))
    return {"predictions": [{k: columns[k][i] for k in output_names} for i in range(count)]}


def encode(body):
    """JSON bytes for a body that may hold numpy arrays; NaN and infinity
    become null, as JSON has no such numbers."""
    if orjson is not None:
        try:
            return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        except TypeError:  # a dtype orjson does not write
            pass
    return json.dumps(_plain(body), ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode()


def _plain(value):
    if isinstance(value, (np.ndarray, np.generic)):
        return _to_json(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def status_body(versions, state="AVAILABLE"):
    return {"model_version_status": [
        {"version": str(v), "state": state, "status": {"error_code": "OK", "error_message": ""}}
        for v in versions]}


def metadata_body(name, version, predictor):
    def tensor(t):
        shape = t["shape"]
        return {"dtype": DTYPE_NAMES.get(t["dtype"], "DT_INVALID"),
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


# --- the OpenAPI document ---------------------------------------------------------

_INT_RANGES = {"int8": (-2**7, 2**7 - 1), "int16": (-2**15, 2**15 - 1),
               "int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1),
               "uint8": (0, 2**8 - 1), "uint16": (0, 2**16 - 1)}


def _value_schema(dtype):
    if dtype in _INT_RANGES:
        low, high = _INT_RANGES[dtype]
        return {"type": "integer", "minimum": low, "maximum": high}
    if dtype == "bool":
        return {"type": "boolean"}
    if dtype in ("string", "object"):
        return {"oneOf": [{"type": "string"}, {
            "type": "object", "required": ["b64"], "additionalProperties": False,
            "properties": {"b64": {"type": "string", "format": "byte"}}}]}
    return {"type": "number"}


def _array_schema(dims, dtype):
    """JSON Schema for nested lists with sizes ``dims`` (None: any size >= 1)."""
    schema = _value_schema(dtype)
    for size in reversed(dims):
        schema = {"type": "array", "items": schema, "minItems": 1 if size is None else size}
        if size is not None:
            schema["maxItems"] = size
    return schema


def _instance_schema(tensor):
    shape = tensor["shape"]
    return _array_schema(shape[1:], tensor["dtype"]) if shape else {}


def request_schemas(endpoint, signature_name):
    """(row-format schema, columnar schema) for requests to ``endpoint``."""
    inputs = endpoint["inputs"]
    # "" asks for the default signature, as in TF-Serving.
    signature = {"type": "string", "enum": [signature_name, ""]}
    if len(inputs) == 1:
        row = _instance_schema(inputs[0])
        batch = {"type": "array", "minItems": 1, "items": row}
        columns = batch
    else:
        names = [t["name"] for t in inputs]
        row = {"type": "object", "required": names, "additionalProperties": False,
               "properties": {t["name"]: _instance_schema(t) for t in inputs}}
        batch = {"type": "array", "minItems": 1, "items": row}
        # Every input must hold the same number of instances, which JSON
        # Schema cannot say: documented as one instance per input.
        columns = {"type": "object", "required": names, "additionalProperties": False,
                   "properties": {t["name"]: {"type": "array", "minItems": 1, "maxItems": 1,
                                              "items": _instance_schema(t)} for t in inputs}}
    rows_body = {"type": "object", "required": ["instances"], "additionalProperties": False,
                 "properties": {"instances": batch, "signature_name": signature}}
    columns_body = {"type": "object", "required": ["inputs"], "additionalProperties": False,
                    "properties": {"inputs": columns, "signature_name": signature}}
    return rows_body, columns_body


def example_request(endpoint):
    def zeros(tensor):
        shape = [1 if d is None else d for d in (tensor["shape"] or [1])][1:]
        value = 0 if tensor["dtype"].startswith(("int", "uint")) else \
            "" if tensor["dtype"] in ("string", "object") else 0.0
        for size in reversed(shape):
            value = [value] * size
        return value

    inputs = endpoint["inputs"]
    row = {t["name"]: zeros(t) for t in inputs} if len(inputs) > 1 else zeros(inputs[0])
    return {"instances": [row]}


_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}


def _json(schema, description):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document(models):
    """OpenAPI 3.0 for the served models, [(name, predictor, versions)]:
    status, metadata and predict (on each model and each version), the Open
    Inference Protocol's routes, and tfdeploy's predict route (for the first
    model, the server's default)."""
    errors = {str(code): _json(_ERROR, text) for code, text in (
        (400, "Malformed request, TF-Serving style {\"error\": ...}"),
        (404, "No such model, version or route"),
        (405, "Method not allowed"), (408, "The request was not sent in time"),
        (413, "Request body too large"))}
    output = {"type": "array", "minItems": 1}
    predictions = {"type": "object", "required": ["predictions"],
                   "properties": {"predictions": output}}
    columnar = {"type": "object", "required": ["outputs"]}
    status = {"type": "object", "required": ["model_version_status"],
              "properties": {"model_version_status": {"type": "array"}}}
    metadata = {"type": "object", "required": ["model_spec", "metadata"]}

    def get(schema, summary):
        return {"get": {"summary": summary,
                        "responses": {"200": _json(schema, summary), **errors}}}

    from kerasexport import v2_api

    paths = {}
    for index, (name, predictor, versions) in enumerate(models):
        endpoint = predictor.signature()
        rows_body, columns_body = request_schemas(endpoint, predictor.default_signature)

        def predict(body_schema, answer, summary, endpoint=endpoint):
            return {"post": {
                "summary": summary,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": body_schema, "example": example_request(endpoint)}}},
                "responses": {"200": _json(answer, "Predictions"), **errors}}}

        tf_serving_body = {"oneOf": [rows_body, columns_body]}
        for prefix in [f"/v1/models/{name}"] + [f"/v1/models/{name}/versions/{v}" for v in versions]:
            paths[prefix] = get(status, "Model status")
            paths[f"{prefix}/metadata"] = get(metadata, "Signatures")
            paths[f"{prefix}:predict"] = predict(tf_serving_body, {"oneOf": [predictions, columnar]},
                                                 "Predict (row or columnar format)")
        paths.update(v2_api.openapi_paths(name, predictor, versions, errors))
        if index == 0:
            paths[f"/{predictor.default_signature}/predict"] = predict(
                rows_body, predictions, "Predict, tfdeploy's route (every output named per instance)")
    names = ", ".join(name for name, _, _ in models)
    return {
        "openapi": "3.0.3",
        "info": {"title": f"{names} (kerasexport)", "version": "1",
                 "description": "TF-Serving's REST API and the Open Inference Protocol (KServe "
                                "V2) for models exported by kerasexport."},
        "paths": paths,
    }
