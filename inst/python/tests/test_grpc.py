"""gRPC beside REST, tested with the real clients, unchanged: TF-Serving's
Python client (tensorflow-serving-api's PredictionServiceStub and
ModelServiceStub) and Triton's (tritonclient.grpc, from .venv-clients);
errors as gRPC status codes; what no client can do to the port."""

import json
import os
import socket
import subprocess

import numpy as np
import pytest

from conftest import ServerProcess
from conftest import free_port
from conftest import make_iris_model
from kerasexport import export_model

grpc = pytest.importorskip("grpc")
CLIENTS = os.path.join(os.path.dirname(__file__), "..", "..", "..", ".venv-clients", "bin", "python")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grpc")
    model = make_iris_model(3)
    x = np.random.default_rng(0).random((4, 4)).astype("float32")
    model(x)
    path = folder / "iris.onnx"
    export_model(model, str(path), format="onnx", verbose=False)
    port = free_port()
    server = ServerProcess(path, folder / "server.log", "--grpc-port", str(port),
                           "--max-request-bytes", str(1 << 20))
    want = np.asarray(model.predict(x, verbose=0))
    yield server, f"127.0.0.1:{port}", x, want
    server.close()


def test_tf_serving_clients_predict_and_read_metadata_and_status(served):
    tf = pytest.importorskip("tensorflow")
    apis = pytest.importorskip("tensorflow_serving.apis")
    from tensorflow_serving.apis import get_model_metadata_pb2
    from tensorflow_serving.apis import get_model_status_pb2
    from tensorflow_serving.apis import model_service_pb2_grpc
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    del apis
    server, address, x, want = served
    with grpc.insecure_channel(address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "iris"
        request.model_spec.signature_name = "serving_default"
        request.inputs["measurements"].CopyFrom(tf.make_tensor_proto(x))
        response = stub.Predict(request, timeout=30)
        np.testing.assert_allclose(tf.make_ndarray(response.outputs["species"]), want, atol=1e-6)
        assert response.model_spec.version.value == 1

        metadata = get_model_metadata_pb2.GetModelMetadataRequest()
        metadata.model_spec.name = "iris"
        metadata.metadata_field.append("signature_def")
        answer = stub.GetModelMetadata(metadata, timeout=30)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        answer.metadata["signature_def"].Unpack(signatures)
        signature = signatures.signature_def["serving_default"]
        assert list(signature.inputs) == ["measurements"]
        assert [d.size for d in signature.inputs["measurements"].tensor_shape.dim] == [-1, 4]

        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "iris"}), timeout=30)
        assert status.model_version_status[0].version == 1
        assert status.model_version_status[0].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE

        # Errors are status codes, with REST's words.
        request.model_spec.name = "nope"
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(request, timeout=30)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        request.model_spec.name = "iris"
        request.inputs["measurements"].CopyFrom(tf.make_tensor_proto(x[:, :2]))
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(request, timeout=30)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "axis 1" in caught.value.details()
        request.inputs["measurements"].CopyFrom(
            tf.make_tensor_proto(np.zeros((70_000, 4), dtype="float32")))  # over 1 MiB
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(request, timeout=30)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.RpcError) as caught:
            channel.unary_unary("/tensorflow.serving.PredictionService/Classify")(b"", timeout=30)
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.skipif(not os.path.exists(CLIENTS), reason="no .venv-clients")
def test_tritons_grpc_client_talks_to_it_unchanged(served):
    server, address, x, want = served
    script = f"""
import json, numpy as np
import tritonclient.grpc as grpcclient
client = grpcclient.InferenceServerClient({address!r})
x = np.array({x.tolist()!r}, dtype="float32")
tensor = grpcclient.InferInput("measurements", list(x.shape), "FP32")
tensor.set_data_from_numpy(x)
result = client.infer("iris", [tensor], outputs=[grpcclient.InferRequestedOutput("species")])
metadata = client.get_model_metadata("iris")
errors = []
for bad in ("nope",):
    try:
        client.infer(bad, [tensor])
    except Exception as error:
        errors.append(str(error))
print(json.dumps({{"live": client.is_server_live(), "ready": client.is_server_ready(),
                  "model_ready": client.is_model_ready("iris"),
                  "inputs": [i.name for i in metadata.inputs],
                  "species": result.as_numpy("species").tolist(), "errors": errors}}))
"""
    out = subprocess.run([CLIENTS, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer["live"] and answer["ready"] and answer["model_ready"]
    assert answer["inputs"] == ["measurements"]
    np.testing.assert_allclose(answer["species"], want, atol=1e-6)
    assert "StatusCode.NOT_FOUND" in answer["errors"][0]


def test_what_no_client_can_do_to_the_grpc_port(served):
    """Garbage bytes as a message, garbage on the socket, a flood of bad
    calls: each gets a status, and a valid call is answered after."""
    from kerasexport import v2_grpc_protos

    server, address, x, want = served
    classes = v2_grpc_protos.messages()
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(os.urandom(4096))
    with grpc.insecure_channel(address) as channel:
        infer = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=lambda b: b,
            response_deserializer=classes["ModelInferResponse"].FromString)
        rng = np.random.default_rng(1)
        for i in range(200):
            with pytest.raises(grpc.RpcError) as caught:
                infer(rng.bytes(int(rng.integers(1, 200))), timeout=10)
            # Not a message, or one naming no model the server has.
            assert caught.value.code() in (grpc.StatusCode.INVALID_ARGUMENT,
                                           grpc.StatusCode.NOT_FOUND), caught.value.details()
        request = classes["ModelInferRequest"](model_name="iris")
        tensor = request.inputs.add(name="measurements", datatype="FP32", shape=list(x.shape))
        for bad in ({"datatype": "INT32"}, {"shape": [4, 5]}, {"name": "other"}):
            wrong = classes["ModelInferRequest"]()
            wrong.CopyFrom(request)
            for key, value in bad.items():
                if key == "shape":
                    del wrong.inputs[0].shape[:]
                    wrong.inputs[0].shape.extend(value)
                else:
                    setattr(wrong.inputs[0], key, value)
            wrong.raw_input_contents.append(x.tobytes())
            with pytest.raises(grpc.RpcError) as caught:
                channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                    request_serializer=lambda m: m.SerializeToString(),
                                    response_deserializer=lambda b: b)(wrong, timeout=10)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad
        del tensor
        request.raw_input_contents.append(x.tobytes())
        answer = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=classes["ModelInferResponse"].FromString)(request, timeout=10)
        got = np.frombuffer(answer.raw_output_contents[0], dtype="float32").reshape(4, 3)
        np.testing.assert_allclose(got, want, atol=1e-6)
