"""Deployment folders for the servers that take over when one machine is not
enough: what each needs, from an artifact, in a folder a user can ship.

* TF-Serving: the model base path (``models/<name>/<version>/``, a
  SavedModel) and a Dockerfile on the official ``tensorflow/serving`` image.
* Triton: a model repository, ``<name>/<version>/model.onnx`` (or
  ``model.savedmodel/``, ``model.xml``) with a ``config.pbtxt`` written from
  the artifact's signature: inputs, outputs, datatypes, dims,
  ``max_batch_size`` and dynamic batching.
* KServe: an ``InferenceService`` for the matching predictor, and the
  storage layout it reads (``model.onnx`` at the storage URI; for
  TensorFlow, numbered versions).

Each folder has a README.md with the commands that run it, as those
projects document them.
"""

import os
import shutil

from kerasexport import artifact_formats
from kerasexport.errors import ArtifactError
from kerasexport.errors import KerasExportError
from kerasexport.inspect_artifact import describe

# Images pinned to a release, as the projects publish them.
TF_SERVING_IMAGE = "tensorflow/serving:2.18.0"
TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:25.01-py3"

TARGETS = ("tf-serving", "triton", "kserve")
_TRITON = {  # format: (backend, platform, file in the version folder)
    "tf_saved_model": ("tensorflow", "tensorflow_savedmodel", "model.savedmodel"),
    "onnx": ("onnxruntime", "onnxruntime_onnx", "model.onnx"),
    "openvino": ("openvino", None, "model.xml"),
}
_TRITON_TYPES = {"bool": "TYPE_BOOL", "uint8": "TYPE_UINT8", "uint16": "TYPE_UINT16",
                 "uint32": "TYPE_UINT32", "uint64": "TYPE_UINT64", "int8": "TYPE_INT8",
                 "int16": "TYPE_INT16", "int32": "TYPE_INT32", "int64": "TYPE_INT64",
                 "float16": "TYPE_FP16", "float32": "TYPE_FP32", "float64": "TYPE_FP64",
                 "string": "TYPE_STRING", "object": "TYPE_STRING"}
_KSERVE = {"tf_saved_model": "tensorflow", "onnx": "onnx"}


class TargetError(KerasExportError, ValueError):
    """The target cannot serve this artifact's format."""

    r_class = "unsupported_combination"


def _copy_artifact(info, target):
    artifact_formats.module(info["format"]).copy_to(info["path"], target)


def _needs(info, target, formats):
    if info["format"] not in formats:
        raise TargetError(
            f"{target} does not serve {info['format']!r} artifacts; it serves "
            + ", ".join(repr(f) for f in formats) + ".",
            hint="Export the model to one of those formats with export_savedmodel(format = ...).",
            format=info["format"], target=target, formats=list(formats))


def triton_config(name, info, max_batch_size=32):
    """config.pbtxt text for the artifact's default endpoint."""
    backend, platform, file_name = _TRITON[info["format"]]
    endpoint = info["endpoints"][0]
    tensors = endpoint["inputs"] + endpoint["outputs"]
    batched = max_batch_size > 0 and all(t["shape"] and t["shape"][0] is None for t in tensors)

    def entry(t):
        dims = list(t["shape"] or [])[1 if batched else 0:]
        dims = ", ".join("-1" if d is None else str(d) for d in dims) or "1"
        return (f'  {{\n    name: "{t["name"]}"\n    data_type: {_TRITON_TYPES.get(t["dtype"], "TYPE_FP32")}\n'
                f"    dims: [ {dims} ]\n  }}")

    lines = [f'name: "{name}"', f'backend: "{backend}"']
    if platform:
        lines.append(f'platform: "{platform}"')
    lines.append(f"max_batch_size: {max_batch_size if batched else 0}")
    if info["format"] != "onnx":
        lines.append(f'default_model_filename: "{file_name}"')
    lines.append("input [\n" + ",\n".join(entry(t) for t in endpoint["inputs"]) + "\n]")
    lines.append("output [\n" + ",\n".join(entry(t) for t in endpoint["outputs"]) + "\n]")
    if batched:
        lines.append("dynamic_batching { }")
    return "\n".join(lines) + "\n"


def write_deployment(artifact, path, target, name=None, version=1, storage_uri=None,
                     max_batch_size=32, overwrite=False):
    """Write the folder ``path`` that ``target`` needs to serve ``artifact``;
    return a description: what was written and the commands that run it."""
    if target not in TARGETS:
        raise TargetError(f"Unknown target {target!r}.", hint="Targets: " + ", ".join(TARGETS))
    info = describe(artifact)
    if name is None:
        stem = os.path.basename(info["path"].rstrip(os.sep))
        suffix = artifact_formats.module(info["format"]).SUFFIX
        name = stem[: -len(suffix)] if suffix and stem.endswith(suffix) else stem
    path = os.path.abspath(path)
    if os.path.lexists(path):
        if not overwrite:
            raise ArtifactError(f"{path!r} already exists.",
                                hint="Choose a new folder, or pass `overwrite = TRUE` to replace "
                                     "a deployment folder kerasexport wrote.", path=path)
        if not os.path.isfile(os.path.join(path, "README.md")):
            raise ArtifactError(f"{path!r} is not a deployment folder kerasexport wrote; it is "
                                "never replaced.", path=path)
    staging = path + ".kerasexport-staging"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        written = _WRITERS[target](info, staging, name, str(version), storage_uri, max_batch_size)
        if os.path.lexists(path):
            shutil.rmtree(path)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    written["path"] = path
    return written


def _readme(folder, title, commands, notes=()):
    text = [f"# {title}", "", "Written by kerasexport. Run it with:", "", "```sh", *commands, "```"]
    if notes:
        text += ["", *notes]
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(text) + "\n")


def _tf_serving(info, folder, name, version, storage_uri, max_batch_size):
    _needs(info, "TF-Serving", ("tf_saved_model",))
    _copy_artifact(info, os.path.join(folder, "models", name, version))
    with open(os.path.join(folder, "Dockerfile"), "w", encoding="utf-8") as handle:
        handle.write(f"FROM {TF_SERVING_IMAGE}\n"
                     f"COPY models/{name} /models/{name}\n"
                     f"ENV MODEL_NAME={name}\n")
    commands = [f"docker build -t {name}-serving .",
                f"docker run -p 8501:8501 -p 8500:8500 {name}-serving",
                f"# or without building: docker run -p 8501:8501 "
                f"--mount type=bind,source=\"$PWD/models/{name}\",target=/models/{name} "
                f"-e MODEL_NAME={name} -t {TF_SERVING_IMAGE}",
                f"curl http://localhost:8501/v1/models/{name}"]
    _readme(folder, f"{name} on TF-Serving", commands)
    return {"target": "tf-serving", "commands": commands,
            "files": ["Dockerfile", "README.md", f"models/{name}/{version}/"]}


def _triton(info, folder, name, version, storage_uri, max_batch_size):
    _needs(info, "Triton", tuple(_TRITON))
    model_folder = os.path.join(folder, name)
    _copy_artifact(info, os.path.join(model_folder, version, _TRITON[info["format"]][2]))
    with open(os.path.join(model_folder, "config.pbtxt"), "w", encoding="utf-8") as handle:
        handle.write(triton_config(name, info, max_batch_size))
    commands = [f"docker run --rm -p 8000:8000 -p 8001:8001 -p 8002:8002 "
                f"-v \"$PWD\":/models {TRITON_IMAGE} tritonserver --model-repository=/models",
                f"curl http://localhost:8000/v2/models/{name}"]
    _readme(folder, f"{name} on Triton", commands,
            ["This folder is a Triton model repository; `config.pbtxt` was written from the "
             "artifact's signature."])
    return {"target": "triton", "commands": commands,
            "files": ["README.md", f"{name}/config.pbtxt", f"{name}/{version}/"]}


def _kserve(info, folder, name, version, storage_uri, max_batch_size):
    _needs(info, "KServe", tuple(_KSERVE))
    model_format = _KSERVE[info["format"]]
    storage = os.path.join(folder, "storage")
    if info["format"] == "tf_saved_model":
        _copy_artifact(info, os.path.join(storage, version))  # TF-Serving's layout
    else:
        _copy_artifact(info, os.path.join(storage, "model.onnx"))
    uri = storage_uri or f"s3://<your-bucket>/{name}"
    service_name = name.lower().replace("_", "-")
    lines = ['apiVersion: "serving.kserve.io/v1beta1"', 'kind: "InferenceService"', "metadata:",
             f'  name: "{service_name}"', "spec:", "  predictor:", "    model:",
             "      modelFormat:", f'        name: "{model_format}"']
    if model_format == "onnx":
        lines.append("      protocolVersion: v2")  # KServe's ONNX runtime (Triton) needs it
    lines.append(f'      storageUri: "{uri}"')
    with open(os.path.join(folder, "inferenceservice.yaml"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    commands = [f"# copy storage/ to {uri}, e.g. aws s3 cp --recursive storage/ {uri}",
                "kubectl apply -f inferenceservice.yaml",
                f"kubectl get inferenceservice {service_name}"]
    _readme(folder, f"{name} on KServe", commands,
            ["`storage/` holds what the storage URI must hold: "
             + ("numbered SavedModel versions." if model_format == "tensorflow" else "model.onnx.")])
    return {"target": "kserve", "commands": commands,
            "files": ["README.md", "inferenceservice.yaml", "storage/"]}


_WRITERS = {"tf-serving": _tf_serving, "triton": _triton, "kserve": _kserve}
