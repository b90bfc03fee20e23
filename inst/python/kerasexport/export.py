"""The one entry point R calls to export a model: checks, then the
format-specific export, written atomically, with its output captured."""

import contextlib
import os
import shutil
import tempfile
import time

from kerasexport import artifact_formats
from kerasexport import capture
from kerasexport import crossing
from kerasexport import formats
from kerasexport import metadata
from kerasexport import scrub as scrubbing
from kerasexport import signatures
from kerasexport import versions
from kerasexport.errors import ArtifactError
from kerasexport.errors import ExportFailedError
from kerasexport.errors import InvalidModelError
from kerasexport.errors import KerasExportError
from kerasexport.errors import UnknownArgumentError


def _exporter(format):
    """The function that writes ``format``: its module's, or Keras' own for
    a format kerasexport does not know."""
    fmt = artifact_formats.module(format)
    if fmt is not None:
        return fmt.export
    from kerasexport import passthrough

    return lambda *args, **kwargs: passthrough.export(*args, format=format, **kwargs)


def check_model(model, has_signature=False):
    import keras

    if not isinstance(model, keras.Model):
        raise InvalidModelError(
            f"`object` must be a Keras 3 model, not a {type(model).__module__}."
            f"{type(model).__name__}.",
            hint="Pass a model made with keras3 or reticulate::import(\"keras\").",
        )
    if not model.built and not has_signature:
        raise InvalidModelError(
            f"The model {model.name!r} has not been built, so its input shapes "
            "are unknown.",
            hint="Call it once on data, call `model$build(input_shape)`, or pass "
            "`input_signature`.",
        )
    return model


def ensure_called(model):
    """Run the model once on a sample batch if it was built but never called.

    Keras' ONNX export needs a model that has been called; a Sequential model
    made with an Input layer is built but not called until it sees data.
    """
    if model.built and not getattr(model, "_called", True):
        from kerasexport.verify import model_outputs
        from kerasexport.verify import sample_inputs

        model_outputs(model, sample_inputs(model, batch_size=1))


def looks_like_artifact(path, format):
    """Whether ``path`` holds an artifact of ``format`` that may be replaced."""
    fmt = artifact_formats.module(format)
    if fmt is not None:
        return fmt.is_artifact(path)
    # For formats we know nothing about: a file of the same kind only.
    return os.path.isfile(path)


def make_folders(folder, created):
    """Create ``folder`` and any missing folders above it, as Keras' own
    SavedModel export does (the keras3 documentation's example writes to
    "path/to/location"); each folder made is appended to ``created`` so that
    a failed export can remove it again."""
    missing = []
    while not os.path.isdir(folder):
        if os.path.lexists(folder):
            raise ArtifactError(
                f"{folder!r} is a file, so the artifact cannot be written inside it.",
                hint="Choose a path whose folders are folders.", path=folder)
        missing.append(folder)
        folder = os.path.dirname(folder)
    for needed in reversed(missing):
        try:
            os.mkdir(needed)
        except OSError as error:
            raise ArtifactError(
                f"The folder {needed!r} could not be created ({error.strerror or error}).",
                hint="Check the permissions of the folders above it, or choose another path.",
                path=needed) from error
        created.append(needed)


def _check_destination(path, format, overwrite):
    if not os.path.lexists(path):
        return False
    if not overwrite:
        raise ArtifactError(
            f"{path!r} already exists.",
            hint="Pass `overwrite = TRUE` to replace an earlier artifact, or "
            "choose another path.",
            path=path,
        )
    if not looks_like_artifact(path, format):
        kind = "folder" if os.path.isdir(path) else "file"
        raise ArtifactError(
            f"{path!r} is a {kind} that is not an artifact of format {format!r}; "
            "kerasexport never replaces it, even with `overwrite = TRUE`.",
            hint="Choose a new path for the artifact.",
            path=path,
        )
    return True


def _remove_empty(folders):
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def versioned_path(base, format, version, created=None):
    """Where version ``version`` ("auto" for the next number) of an artifact
    goes in the layout TF-Serving expects: ``base/<version>/`` for a
    SavedModel, ``base/<version>/model.onnx`` for ONNX."""
    if os.path.exists(base) and not os.path.isdir(base):
        raise ArtifactError(f"{base!r} is a file, not a folder of versions.", path=base)
    if version == "auto":
        version = max(versions.version_numbers(base), default=0) + 1
    elif (isinstance(version, bool) or not isinstance(version, int) or version < 1
          or versions.parse_version(str(version)) is None):
        raise ArtifactError(f"`version` must be a whole number >= 1 or \"auto\", not {version!r}.",
                            hint="TF-Serving reads versions as folder names 1, 2, 3, ...")
    folder = versions.version_folder(base, version)
    entry = versions.version_entry(format)
    if entry and os.path.isdir(folder):
        # A version is one artifact: a file never goes into a version folder
        # that holds something else (a SavedModel, say).
        mine = {os.path.basename(f) for f in artifact_formats.files(os.path.join(folder, entry),
                                                                        format)} | {entry}
        others = set(os.listdir(folder)) - mine
        if others:
            raise ArtifactError(
                f"Version {version} at {folder!r} already holds something other than a "
                f"{format!r} model ({', '.join(sorted(others)[:3])}); kerasexport never changes it.",
                hint='Export a new version (version = "auto"), or choose another base folder.',
                path=folder)
    created = created if created is not None else []
    make_folders(folder if entry else base, created)
    return os.path.join(folder, entry) if entry else folder


def _staging_prefix(path):
    return f".{os.path.basename(path)}.kerasexport-"


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(path):
    """Remove staging folders that a killed export left beside ``path``.

    A staging folder is named after the process that made it; one whose
    process is gone can only be the remains of an export that was killed
    before it could clean up (SIGKILL, power loss). Returns the names removed.
    """
    parent, prefix = os.path.dirname(path), _staging_prefix(path)
    removed = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
            removed.append(name)
    return removed


def _move_into_place(staged, path, replace, format):
    """Move the staged artifact, with its companion files, to ``path``.

    An artifact it replaces is moved aside (its companion files with it) and
    put back if any move fails; a file beside ``path`` that is not part of
    the old artifact is never replaced.
    """
    folder = os.path.dirname(path)
    new = [(f, os.path.join(folder, os.path.basename(f)))
           for f in artifact_formats.files(staged, format)]
    old = artifact_formats.files(path, format) if replace else []
    for _, target in new[1:]:
        if os.path.lexists(target) and target not in old:
            raise ArtifactError(
                f"{target!r} already exists and is not part of an artifact at {path!r}; "
                "kerasexport never replaces it.",
                hint="Move it away, or choose another path for the artifact.",
                path=target,
            )
    aside = os.path.join(os.path.dirname(staged), "previous")
    if old:
        os.mkdir(aside)
    moved_aside, moved_in = [], []
    try:
        for f in old:
            backup = os.path.join(aside, os.path.basename(f))
            os.rename(f, backup)
            moved_aside.append((backup, f))
        # The companions first: the file that names them appears last.
        for source, target in reversed(new):
            os.rename(source, target)
            moved_in.append(target)
    except BaseException:
        for target in moved_in:
            if os.path.isdir(target):
                shutil.rmtree(target, ignore_errors=True)
            else:
                os.remove(target)
        for backup, f in moved_aside:
            os.rename(backup, f)
        raise
    # What was moved aside goes with the staging folder.


def export_model(model, filepath, format="tf_saved_model", verbose=None,
                 input_signature=None, overwrite=False, model_names=True, scrub=True,
                 version=None, external_data=None, trained_on=None, **kwargs):
    """Export ``model`` to ``filepath`` and return a description of the result.

    The artifact is written into a temporary sibling of ``filepath`` and moved
    into place only once complete, so a failure at any point leaves whatever
    was at ``filepath`` untouched and no partial artifact behind.
    ``trained_on``: the backend the model was trained on, when this process
    exports it on another (see ``crossing``).
    """
    path = os.path.abspath(os.path.expanduser(os.fspath(filepath)))
    formats.check_format(format)
    formats.check_kwargs(format, kwargs)
    if version is None:
        artifact_formats.check_path(path, format)
    if external_data is not None:
        fmt = artifact_formats.module(format)
        if fmt is None or "external_data" not in getattr(fmt, "OWN_KWARGS", ()):
            raise UnknownArgumentError(
                f"`external_data` is for ONNX artifacts; format = {format!r} does not take it.",
                hint="Leave `external_data` as NULL, or export with format = \"onnx\".",
                names=["external_data"], format=format)
        kwargs = dict(kwargs, external_data=external_data)
    check_model(model, has_signature=input_signature is not None)
    created = []  # folders made here, removed again if the export fails
    try:
        if version is not None:
            path = versioned_path(path, format, version, created)
        else:
            make_folders(os.path.dirname(path), created)
        return _export_checked(model, path, format, verbose, input_signature, overwrite,
                               model_names, scrub, version, kwargs, trained_on)
    except BaseException:
        _remove_empty(created)
        raise


def _export_checked(model, path, format, verbose, input_signature, overwrite, model_names,
                    scrub, version, kwargs, trained_on):
    import keras

    replace = _check_destination(path, format, overwrite)
    input_signature = signatures.resolve(model, input_signature)
    if not model.built:
        signatures.build_from_signature(model, input_signature)
    ensure_called(model)
    backend = keras.backend.backend()
    fmt = artifact_formats.module(format)
    named = fmt is not None and fmt.NAMED
    format_kwargs = dict(kwargs)
    if named:
        format_kwargs["model_names"] = model_names

    remove_stale_staging(path)
    staging = tempfile.mkdtemp(prefix=_staging_prefix(path) + f"{os.getpid()}-",
                               dir=os.path.dirname(path))
    staged = os.path.join(staging, os.path.basename(path))
    started = time.perf_counter()
    try:
        # The user never sees, and need not know, the temporary name.
        capture.rewrite_in_output(staged, path)
        if verbose is False:
            capture.hide_internal_warnings()
        try:
            if crossing.needed(backend, format):
                record = crossing.export_across(model, staged, format, backend, verbose,
                                                input_signature, model_names, scrub, kwargs)
                record = {k: v for k, v in record.items() if k not in ("path", "seconds", "version")}
            else:
                record = _record(model, format, trained_on or backend, backend, input_signature,
                                 model_names and named)
                if fmt is not None:
                    def finish(artifact):
                        if scrub:
                            record["local_information_removed"] = fmt.scrub(
                                artifact, scrubbing.Finder([staging, os.path.dirname(path)]))
                        fmt.write_record(artifact, record)

                    format_kwargs["finish"] = finish
                _exporter(format)(model, staged, backend, verbose=verbose,
                                  input_signature=input_signature, **format_kwargs)
        except KerasExportError:
            raise
        except Exception as error:
            raise ExportFailedError(
                f"Keras could not export the model to {format!r} "
                f"({type(error).__name__}): " + str(error).replace(staged, path),
                python_type=type(error).__name__,
                backend=backend,
                format=format,
            ) from error
        if not os.path.lexists(staged):
            raise ExportFailedError(f"Keras wrote no artifact for format {format!r}.")
        try:
            _move_into_place(staged, path, replace, format)
        except OSError as error:
            raise ArtifactError(
                f"The artifact could not be moved to {path!r} "
                f"({error.strerror or error}); "
                + ("the earlier artifact there is unchanged." if replace
                   else "nothing was written there."),
                hint="Check the folder's free space and permissions, then export again.",
                path=path,
            ) from error
    finally:
        try:
            os.rmdir(staging)  # empty once the artifact has moved out: the usual case
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)

    result = dict(record, path=path, seconds=time.perf_counter() - started)
    if version is not None:
        entry = versions.version_entry(format)
        result["version"] = int(os.path.basename(os.path.dirname(path) if entry else path))
    return result


def _record(model, format, trained_on, backend, input_signature, model_names):
    from keras import tree

    from kerasexport.verify import model_outputs
    from kerasexport.verify import sample_inputs

    structure = input_signature or signatures.model_input_structure(model)
    if model_names:
        inputs = signatures.input_names(model, structure)
        try:
            declared = model.outputs  # Functional and Sequential models
        except (AttributeError, ValueError):
            declared = None
        count = len(tree.flatten(declared)) if declared else len(
            model_outputs(model, sample_inputs(model, 1, signature=structure)))
        outputs = signatures.output_names(model, count)
    else:
        inputs, outputs = [], []
    record = metadata.make_record(model, format, trained_on, inputs, outputs, model_names)
    if backend != trained_on:
        record["exported_on_backend"] = backend
    return record


def describe_kwargs(**kwargs):
    """How Python received each argument: used to test the R conversion."""

    def describe(value):
        if isinstance(value, dict):
            return {str(k): describe(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [type(value).__name__] + [describe(v) for v in value]
        return type(value).__name__ if value is not None else "None"

    return {name: describe(value) for name, value in kwargs.items()}
