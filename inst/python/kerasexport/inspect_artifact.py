"""Describe an artifact the way ``saved_model_cli show`` does, for every
format kerasexport knows: format, endpoints, each input and output with
name, dtype and shape, size on disk, and what produced it. What each format
holds is read by its own module (see ``artifact_formats``)."""

import os

from kerasexport import artifact_formats
from kerasexport import placement
from kerasexport.errors import ArtifactError


def size_on_disk(files):
    return sum(os.path.getsize(f) if os.path.isfile(f) else
               sum(os.path.getsize(os.path.join(root, name))
                   for root, _, names in os.walk(f) for name in names)
               for f in files)


def describe(path, format=None):
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    # An export killed while it replaced this artifact, where the system
    # could not exchange the two atomically, is undone first.
    placement.recover(os.path.dirname(path))
    if not os.path.exists(path):
        raise ArtifactError(f"No artifact at {path!r}.", path=path)
    format = artifact_formats.resolve(path, format)
    fmt = artifact_formats.module(format)
    info = fmt.describe(path)
    record = fmt.read_record(path)
    if record:
        # The default endpoint's inputs and outputs in the model's order.
        inputs = {n: i for i, n in enumerate(record.get("inputs", []))}
        outputs = {n: i for i, n in enumerate(record.get("outputs", []))}
        for endpoint in info["endpoints"]:
            if endpoint["name"] == "serving_default" and inputs:
                endpoint["inputs"].sort(key=lambda v: inputs.get(v["name"], len(inputs)))
                endpoint["outputs"].sort(key=lambda v: outputs.get(v["name"], len(outputs)))
    files = fmt.files(path)
    info.update(path=path, format=format, files=[os.path.basename(f) for f in files],
                size_bytes=size_on_disk(files), kerasexport=record)
    return info
