"""What a server serves: one model or several (``ModelSet``), each one
artifact (as version 1) or a folder of numbered versions laid out as
TF-Serving expects (see ``versions``), with TF-Serving's version policy
(the newest, the newest N, all, or given ones) and version labels. Loads
versions on demand and watches the folders for new ones. Several models come
as names and paths, or as a TF-Serving model config file
(``--model_config_file``'s format, read with TF-Serving's own protos)."""

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
    """The versions of one model: loads them, and watches for new ones.

    ``policy``: which versions are served, as TF-Serving's
    ``model_version_policy`` says: ``("latest", n)`` the newest n (the
    default, n = 1: the newest only; older ones answer by number while
    they exist, as kerasexport's server always did), ``("all",)``, or
    ``("specific", [versions])``. ``labels``: {label: version}."""

    def __init__(self, path, name, poll_seconds=1.0, precision="float32", policy=None,
                 labels=None):
        self.path = os.path.abspath(path)
        self.name = name
        self.precision = precision
        self.policy = policy or ("latest", None)
        self.labels = dict(labels or {})
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
        found = {1: self.path} if self.single else version_dirs(self.path)
        kind = self.policy[0]
        if kind == "specific":
            return {v: p for v, p in found.items() if v in set(self.policy[1])}
        if kind == "latest" and self.policy[1]:
            return {v: found[v] for v in sorted(found)[-self.policy[1]:]}
        return found

    def label(self, label):
        """The version a label names (TF-Serving's version_labels)."""
        if label not in self.labels:
            raise NotServable(f"Unrecognized servable version label: {label}")
        return self.labels[label]

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

    def loaded_versions(self):
        with self._lock:
            return sorted(self._loaded)

    def watch(self, stop):
        while not stop.wait(self.poll_seconds):
            if not self.single:
                self.refresh()


class ModelSet:
    """The models one server serves, by name; the first is the default
    (tfdeploy's route and the page at / serve it)."""

    def __init__(self, repositories):
        self._models = {}
        for repository in repositories:
            if repository.name in self._models:
                raise ArtifactError(f"Two models are named {repository.name!r}.",
                                    hint="Give every model its own name.")
            self._models[repository.name] = repository
        if not self._models:
            raise ArtifactError("There is no model to serve.")

    @property
    def names(self):
        return list(self._models)

    @property
    def default(self):
        return next(iter(self._models.values()))

    def __iter__(self):
        return iter(self._models.values())

    def get(self, name):
        repository = self._models.get(name)
        if repository is None:
            raise NotServable(f"Servable not found for request: Latest({name})")
        return repository

    def watch(self, stop):
        for repository in self:
            threading.Thread(target=repository.watch, args=(stop,), daemon=True).start()


def read_model_config(path):
    """[(name, base_path, policy, labels)] from a TF-Serving model config
    file (text protobuf ``ModelServerConfig``, as ``--model_config_file``
    reads it)."""
    try:
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2
    except ImportError as error:
        from kerasexport.dependencies import _missing

        raise _missing("tensorflow_serving", "tensorflow-serving-api",
                       "Reading a TF-Serving model config file", error) from None
    config = model_server_config_pb2.ModelServerConfig()
    try:
        with open(path, encoding="utf-8") as handle:
            text_format.Parse(handle.read(), config)
    except (OSError, text_format.ParseError) as error:
        raise ArtifactError(f"The model config file {path!r} cannot be read as TF-Serving's "
                            f"ModelServerConfig: {error}", path=path,
                            hint="It is a text protobuf: model_config_list { config { name: ... "
                                 "base_path: ... } }") from None
    if config.WhichOneof("config") != "model_config_list":
        raise ArtifactError(f"The model config file {path!r} has no model_config_list.", path=path)
    folder = os.path.dirname(os.path.abspath(path))
    models = []
    for entry in config.model_config_list.config:
        policy_kind = entry.model_version_policy.WhichOneof("policy_choice")
        if policy_kind == "all":
            policy = ("all",)
        elif policy_kind == "specific":
            policy = ("specific", list(entry.model_version_policy.specific.versions))
        elif policy_kind == "latest":
            policy = ("latest", entry.model_version_policy.latest.num_versions or 1)
        else:
            policy = ("latest", None)
        models.append((entry.name, os.path.join(folder, entry.base_path), policy,
                       dict(entry.version_labels)))
    return models


def model_config_names(path):
    """The names of the models a TF-Serving model config file lists, after
    checking that each has something to serve."""
    names = []
    for name, base, _, _ in read_model_config(path):
        servable_versions(base)
        names.append(name)
    return names
