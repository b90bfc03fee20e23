"""The layout TF-Serving expects for versions of a model, in one place:
``base/<n>/`` holds version ``n`` (a SavedModel folder, or the format's
file: ``model.onnx``, ``model.tflite``, ...), with ``n`` written in ASCII
digits. Written by ``export`` and read by the server."""

import os
import re

# ASCII digits only: str.isdigit() and int() also take "²", "١" and "１",
# which would make folder "١" (or a URL's "/versions/١") version 1. 18
# digits keep a version inside int64, as TF-Serving's are.
_VERSION = re.compile(r"[0-9]{1,18}")


def parse_version(text):
    """The version ``text`` names, or None when it is not one."""
    if isinstance(text, str) and _VERSION.fullmatch(text):
        return int(text)
    return None


def version_numbers(base):
    """The versions whose folders exist under ``base`` (empty or not)."""
    try:
        names = os.listdir(base)
    except OSError:
        return []
    numbers = (parse_version(name) for name in names)
    return sorted(n for n, name in zip(numbers, names)
                  if n is not None and os.path.isdir(os.path.join(base, name)))


def version_folder(base, version):
    return os.path.join(base, str(version))


def version_entry(format):
    """What a version folder of ``format`` holds: "" when the folder is the
    artifact (a SavedModel), else the file's name."""
    from kerasexport import artifact_formats

    fmt = artifact_formats.module(format)
    return fmt.VERSION_ENTRY if fmt is not None else ""


def version_artifact(folder):
    """The artifact in a version folder, or None."""
    from kerasexport import artifact_formats

    for format in artifact_formats.known():
        entry = version_entry(format)
        path = os.path.join(folder, entry) if entry else folder
        if artifact_formats.module(format).is_artifact(path):
            return path
    return None
