"""The Open Inference Protocol's gRPC messages (package ``inference``,
service ``GRPCInferenceService``: kserve/open-inference-protocol,
grpc_predict_v2.proto), the part this server answers, built from their
definition here: no package that the server's Python can install ships them
(tritonclient's need protobuf < 7, TensorFlow's need protobuf 7; KServe's
come with its whole server). Field names and numbers are the protocol's;
Triton's own gRPC client is tested against them.

``messages()`` returns {name: message class}, nested ones as
"ModelInferRequest.InferInputTensor".
"""

import functools

_PACKAGE = "inference"

# (message, [(field, number, type, repeated?, message type or None)],
#  [nested messages], oneof name or None)
_STRING, _BOOL, _INT64, _INT32, _UINT32, _UINT64, _FLOAT, _DOUBLE, _BYTES, _MESSAGE = (
    "string", "bool", "int64", "int32", "uint32", "uint64", "float", "double", "bytes", "message")


def _parameters_entry():
    return ("ParametersEntry", [("key", 1, _STRING, False, None),
                                ("value", 2, _MESSAGE, False, ".inference.InferParameter")],
            [], None, True)


_MESSAGES = [
    ("ServerLiveRequest", [], [], None, False),
    ("ServerLiveResponse", [("live", 1, _BOOL, False, None)], [], None, False),
    ("ServerReadyRequest", [], [], None, False),
    ("ServerReadyResponse", [("ready", 1, _BOOL, False, None)], [], None, False),
    ("ModelReadyRequest", [("name", 1, _STRING, False, None), ("version", 2, _STRING, False, None)],
     [], None, False),
    ("ModelReadyResponse", [("ready", 1, _BOOL, False, None)], [], None, False),
    ("ServerMetadataRequest", [], [], None, False),
    ("ServerMetadataResponse", [("name", 1, _STRING, False, None),
                                ("version", 2, _STRING, False, None),
                                ("extensions", 3, _STRING, True, None)], [], None, False),
    ("ModelMetadataRequest", [("name", 1, _STRING, False, None),
                              ("version", 2, _STRING, False, None)], [], None, False),
    ("ModelMetadataResponse", [
        ("name", 1, _STRING, False, None), ("versions", 2, _STRING, True, None),
        ("platform", 3, _STRING, False, None),
        ("inputs", 4, _MESSAGE, True, ".inference.ModelMetadataResponse.TensorMetadata"),
        ("outputs", 5, _MESSAGE, True, ".inference.ModelMetadataResponse.TensorMetadata")],
     [("TensorMetadata", [("name", 1, _STRING, False, None), ("datatype", 2, _STRING, False, None),
                          ("shape", 3, _INT64, True, None)], [], None, False)], None, False),
    ("InferParameter", [("bool_param", 1, _BOOL, False, None), ("int64_param", 2, _INT64, False, None),
                        ("string_param", 3, _STRING, False, None),
                        ("double_param", 4, _DOUBLE, False, None),
                        ("uint64_param", 5, _UINT64, False, None)], [], "parameter_choice", False),
    ("InferTensorContents", [
        ("bool_contents", 1, _BOOL, True, None), ("int_contents", 2, _INT32, True, None),
        ("int64_contents", 3, _INT64, True, None), ("uint_contents", 4, _UINT32, True, None),
        ("uint64_contents", 5, _UINT64, True, None), ("fp32_contents", 6, _FLOAT, True, None),
        ("fp64_contents", 7, _DOUBLE, True, None), ("bytes_contents", 8, _BYTES, True, None)],
     [], None, False),
    ("ModelInferRequest", [
        ("model_name", 1, _STRING, False, None), ("model_version", 2, _STRING, False, None),
        ("id", 3, _STRING, False, None),
        ("parameters", 4, _MESSAGE, True, ".inference.ModelInferRequest.ParametersEntry"),
        ("inputs", 5, _MESSAGE, True, ".inference.ModelInferRequest.InferInputTensor"),
        ("outputs", 6, _MESSAGE, True, ".inference.ModelInferRequest.InferRequestedOutputTensor"),
        ("raw_input_contents", 7, _BYTES, True, None)],
     [("InferInputTensor", [
         ("name", 1, _STRING, False, None), ("datatype", 2, _STRING, False, None),
         ("shape", 3, _INT64, True, None),
         ("parameters", 4, _MESSAGE, True,
          ".inference.ModelInferRequest.InferInputTensor.ParametersEntry"),
         ("contents", 5, _MESSAGE, False, ".inference.InferTensorContents")],
       [_parameters_entry()], None, False),
      ("InferRequestedOutputTensor", [
          ("name", 1, _STRING, False, None),
          ("parameters", 2, _MESSAGE, True,
           ".inference.ModelInferRequest.InferRequestedOutputTensor.ParametersEntry")],
       [_parameters_entry()], None, False),
      _parameters_entry()], None, False),
    ("ModelInferResponse", [
        ("model_name", 1, _STRING, False, None), ("model_version", 2, _STRING, False, None),
        ("id", 3, _STRING, False, None),
        ("parameters", 4, _MESSAGE, True, ".inference.ModelInferResponse.ParametersEntry"),
        ("outputs", 5, _MESSAGE, True, ".inference.ModelInferResponse.InferOutputTensor"),
        ("raw_output_contents", 6, _BYTES, True, None)],
     [("InferOutputTensor", [
         ("name", 1, _STRING, False, None), ("datatype", 2, _STRING, False, None),
         ("shape", 3, _INT64, True, None),
         ("parameters", 4, _MESSAGE, True,
          ".inference.ModelInferResponse.InferOutputTensor.ParametersEntry"),
         ("contents", 5, _MESSAGE, False, ".inference.InferTensorContents")],
       [_parameters_entry()], None, False),
      _parameters_entry()], None, False),
]

METHODS = [("ServerLive", "ServerLiveRequest", "ServerLiveResponse"),
           ("ServerReady", "ServerReadyRequest", "ServerReadyResponse"),
           ("ModelReady", "ModelReadyRequest", "ModelReadyResponse"),
           ("ServerMetadata", "ServerMetadataRequest", "ServerMetadataResponse"),
           ("ModelMetadata", "ModelMetadataRequest", "ModelMetadataResponse"),
           ("ModelInfer", "ModelInferRequest", "ModelInferResponse")]
SERVICE = f"{_PACKAGE}.GRPCInferenceService"


def _describe(message_proto, spec):
    from google.protobuf import descriptor_pb2

    name, fields, nested, oneof, map_entry = spec
    message_proto.name = name
    if map_entry:
        message_proto.options.map_entry = True
    if oneof:
        message_proto.oneof_decl.add(name=oneof)
    types = descriptor_pb2.FieldDescriptorProto
    for field_name, number, kind, repeated, type_name in fields:
        field = message_proto.field.add(name=field_name, number=number)
        field.type = getattr(types, f"TYPE_{kind.upper()}")
        field.label = types.LABEL_REPEATED if repeated else types.LABEL_OPTIONAL
        if type_name:
            field.type_name = type_name
        if oneof:
            field.oneof_index = 0
        field.json_name = "".join(part.capitalize() if i else part
                                  for i, part in enumerate(field_name.split("_")))
    for sub in nested:
        _describe(message_proto.nested_type.add(), sub)


@functools.lru_cache(maxsize=None)
def messages():
    """{message name: class} for the protocol's messages, in a descriptor
    pool of their own."""
    from google.protobuf import descriptor_pb2
    from google.protobuf import descriptor_pool
    from google.protobuf import message_factory

    file_proto = descriptor_pb2.FileDescriptorProto(
        name="kerasexport/grpc_predict_v2.proto", package=_PACKAGE, syntax="proto3")
    for spec in _MESSAGES:
        _describe(file_proto.message_type.add(), spec)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    classes = {}

    def collect(prefix, descriptor):
        classes[prefix + descriptor.name] = message_factory.GetMessageClass(descriptor)
        for nested in descriptor.nested_types:
            collect(prefix + descriptor.name + ".", nested)

    for spec in _MESSAGES:
        collect("", pool.FindMessageTypeByName(f"{_PACKAGE}.{spec[0]}"))
    return classes
