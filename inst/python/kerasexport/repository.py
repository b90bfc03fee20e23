"""What a server serves: one artifact (as version 1), or a folder of numbered
versions of one laid out as TF-Serving expects (see ``versions``). Loads
versions on demand and watches the folder for new ones."""

import os
import threading

from kerasexport import artifact_formats
from kerasexport import versions as layout
from kerasexport.errors import ArtifactError
from kerasexport.predictor import Predictor


class NotServable(Exception):
    """A model or version the server does not have (HTTP 404)."""


def is_artifact(path):
    try:
        artifact_formats.detect(path)
    except ArtifactError:
        return False
    return True


def version_dirs(base):
    """{version: artifact path} for a TF-Serving style folder of versions."""
    found = {}
    for version in layout.version_numbers(base):
        artifact = layout.version_artifact(layout.version_folder(base, version))
        if artifact is not None:
            found[version] = artifact
    return found


def servable_versions(path):
    """The versions a server at ``path`` serves: ``[1]`` for one artifact,
    else the numbered folders that hold one. Raises ArtifactError, saying
    what ``path`` is instead, when there is nothing to serve."""
    path = os.path.abspath(os.fspath(path))
    if is_artifact(path):
        return [1]
    found = sorted(version_dirs(path))
    if found:
        return found
    hint = ("Serve an artifact (a SavedModel folder, an .onnx, .tflite, .xml or .pt2 file), "
            "or a folder of numbered versions as export_savedmodel(version = ) writes it.")
    if os.path.isdir(path):
        raise ArtifactError(
            f"{path!r} is a folder that is not an artifact and has no numbered version "
            "folders (1/, 2/, ...) that hold one.", hint=hint, path=path)
    if os.path.exists(path):
        raise ArtifactError(f"{path!r} is a file that is not an artifact kerasexport knows.",
                            hint=hint, path=path)
    raise ArtifactError(f"No artifact at {path!r}.", hint=hint, path=path)


class ModelRepository:
    """The versions of one model: loads them, and watches for new ones."""

    def __init__(self, path, name, poll_seconds=1.0, precision="float32"):
        self.path = os.path.abspath(path)
        self.name = name
        self.precision = precision
        self.single = is_artifact(self.path)
        self._loaded = {}
        self._failed = {}  # version -> why it could not be loaded
        self._lock = threading.Lock()
        self.latest = None
        self.poll_seconds = poll_seconds
        servable_versions(self.path)  # says what the path is when it holds nothing
        self.refresh()
        if self.latest is None:
            problems = "; ".join(f"version {v}: {why}" for v, why in sorted(self._failed.items()))
            raise ArtifactError(f"No version at {self.path!r} could be loaded ({problems}).",
                                path=self.path)

    def _paths(self):
        return {1: self.path} if self.single else version_dirs(self.path)

    def refresh(self):
        """Serve the newest version that loads; the one served before keeps
        serving until then, so no request is dropped, and a version that
        fails to load (still being written, or broken) is tried again at
        the next poll."""
        paths = self._paths()
        for version in sorted(paths, reverse=True):
            if self.latest is not None and version <= self.latest:
                return
            try:
                self.get(version, paths)
            except NotServable:
                continue
            self.latest = version
            return

    def get(self, version=None, paths=None):
        """The loaded predictor for ``version`` (the newest by default);
        NotServable when there is no such version or it does not load."""
        version = self.latest if version is None else version
        with self._lock:
            predictor = self._loaded.get(version)
        if predictor is not None:
            return predictor
        paths = paths or self._paths()
        if version not in paths:
            raise NotServable(f"Servable not found for request: Specific({self.name}, {version})")
        try:
            predictor = Predictor(paths[version], precision=self.precision)
        except Exception as error:  # a broken or half-written artifact on disk
            reason = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            self._failed[version] = reason.splitlines()[0][:300]
            raise NotServable(f"Servable not found for request: Specific({self.name}, {version}); "
                              f"it could not be loaded ({self._failed[version]})") from None
        with self._lock:
            self._failed.pop(version, None)
            self._loaded.setdefault(version, predictor)
            return self._loaded[version]

    def versions(self):
        return sorted(self._paths())

    def watch(self, stop):
        while not stop.wait(self.poll_seconds):
            if not self.single:
                self.refresh()
