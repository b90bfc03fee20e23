"""The formats kerasexport knows end to end, each in a module of its own
that owns everything about it: writing it, its file ending and version
layout, telling one from a file on disk, describing it, the provenance it
records, scrubbing local information out of it, and running it.

Every other module asks here, instead of switching on the format name:

    artifact_formats.module("onnx").SUFFIX
    artifact_formats.detect(path)

A format module defines:

    FORMAT            its name in Model.export(format=...)
    SUFFIX            the file ending its path needs ("" for a folder)
    VERSION_ENTRY     what a version folder holds ("" when the folder is
                      the artifact itself)
    NATIVE_BACKENDS   the Keras backends that write it themselves; the
                      others go through one of these (see ``crossing``)
    EXPORT_NEEDS      {backend: [(module, pip name)]} to write it
    RUNTIME_NEEDS     [(module, pip name)] to run it
    NAMED             whether export() gives the artifact the model's input
                      and output names (``model_names``)
    OPEN_KWARGS       (optional) True when Keras forwards other keyword
                      arguments to a converter that judges them
    OWN_KWARGS        (optional) kerasexport's own arguments for the format
    export(model, filepath, backend, verbose, input_signature, finish, **kwargs)
                      (``finish(artifact)`` scrubs and records, before the
                      artifact is final)
    is_artifact(path), files(path), describe(path)
    read_record(path), write_record(artifact, record), scrub(artifact, finder)
    copy_to(path, target)  a copy that lives at ``target``
    Runner(path): .endpoints {name: {"inputs": [...], "outputs": [...]}},
                  .default (the endpoint clients call), .run(name, feed)

A format the installed Keras offers that is not listed here (a later Keras
release's) is still exported, by Keras as it is, and cannot be run.
"""

import importlib
import os

from kerasexport.errors import ArtifactError
from kerasexport.errors import KerasExportError

# In the order detection tries them: the cheap, certain checks first.
_MODULES = {
    "tf_saved_model": "kerasexport.saved_model",
    "openvino": "kerasexport.openvino",
    "litert": "kerasexport.litert",
    "torch": "kerasexport.torch_program",
    "onnx": "kerasexport.onnx",
}


class PathError(KerasExportError, ValueError):
    """A path that cannot hold an artifact of the format (its ending)."""

    r_class = "argument"


def known():
    return tuple(_MODULES)


def module(format):
    """The module of ``format``, or None for a format kerasexport does not
    know."""
    name = _MODULES.get(format)
    return importlib.import_module(name) if name else None


def check_path(path, format):
    """A path error, before anything runs, when ``path`` cannot be an
    artifact of ``format``: a file format needs its ending."""
    fmt = module(format)
    if fmt is None or not fmt.SUFFIX:
        return path
    if not path.endswith(fmt.SUFFIX):
        endings = ", ".join(f"{name!r}: {m.SUFFIX or 'a folder'}"
                            for name, m in ((n, module(n)) for n in _MODULES))
        raise PathError(
            f"An artifact of format {format!r} is a file ending in {fmt.SUFFIX!r}; "
            f"{os.path.basename(path)!r} does not end so.",
            hint=f"Name it e.g. 'model{fmt.SUFFIX}'. Endings by format: {endings}.",
            path=path, format=format, suffix=fmt.SUFFIX)
    return path


def detect(path):
    """The format of the artifact at ``path``; ArtifactError when it is none
    that kerasexport knows."""
    for format in _MODULES:
        if module(format).is_artifact(path):
            return format
    for format in _MODULES:
        suffix = module(format).SUFFIX
        if suffix and path.endswith(suffix) and os.path.isfile(path):
            from kerasexport.errors import DamagedArtifactError

            raise DamagedArtifactError(
                f"{path!r} is named as an artifact of format {format!r}, but it is not one that "
                f"kerasexport can read: its contents are damaged or of another kind"
                + (" (its weights file is missing?)" if format == "openvino" else "") + ".",
                hint="Export the model again; if it was copied, copy all of its files.",
                path=path, format=format)
    kind = "folder" if os.path.isdir(path) else "file"
    raise ArtifactError(
        f"{path!r} is a {kind} that holds no artifact kerasexport knows "
        f"({', '.join(_MODULES)}).",
        hint="Pass `format` if it is an artifact of another kind.", path=path)


def resolve(path, format=None):
    """``format``, checked against what ``path`` holds; or the format it
    holds when ``format`` is None."""
    if format is None:
        return detect(path)
    fmt = module(format)
    if fmt is None:
        raise ArtifactError(f"kerasexport cannot read {format!r} artifacts.",
                            hint="Known formats: " + ", ".join(_MODULES), format=format)
    if not fmt.is_artifact(path):
        what = ("a folder" if os.path.isdir(path) else "a file") if os.path.exists(path) else "nothing"
        expected = f"a file ending in {fmt.SUFFIX!r}" if fmt.SUFFIX else "a folder"
        raise ArtifactError(
            f"{path!r} is {what} that is not an artifact of format {format!r} ({expected}).",
            hint="Leave `format` NULL to tell the format from the artifact.",
            path=path, format=format)
    return format


def files(path, format):
    """``path`` and the files beside it that belong to the artifact."""
    fmt = module(format)
    return fmt.files(path) if fmt is not None else [path]


# Defaults that format modules take as they are.

def copy_file(path, target):
    """``copy_to`` for a format that is one file."""
    import shutil

    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy2(path, target)


def scrub_nothing(artifact, finder):
    """``scrub`` for a format whose exporter writes no local strings that
    kerasexport knows of."""
    return []
