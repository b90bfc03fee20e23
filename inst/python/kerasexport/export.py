"""The one entry point R calls to export a model: checks, then the
format-specific export, written atomically, with its output captured."""

import contextlib
import errno
import os
import shutil
import time

from kerasexport import artifact_formats
from kerasexport import capture
from kerasexport import crossing
from kerasexport import formats
from kerasexport import keras_private
from kerasexport import limits
from kerasexport import metadata
from kerasexport import placement
from kerasexport import probe
from kerasexport import scrub as scrubbing
from kerasexport import signatures
from kerasexport import versions
from kerasexport.errors import ArtifactError
from kerasexport.errors import ExportFailedError
from kerasexport.errors import InvalidModelError
from kerasexport.errors import KerasExportError
from kerasexport.errors import UnknownArgumentError
from kerasexport.errors import first_lines


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


def export_model(model, filepath, format="tf_saved_model", verbose=None,
                 input_signature=None, overwrite=False, model_names=True, scrub=True,
                 version=None, external_data=None, trained_on=None, verify=False, **kwargs):
    """Export ``model`` to ``filepath`` and return a description of the result.

    The artifact is written into a staging folder beside ``filepath``,
    checked there (``probe``: its runtime runs it, and it honours every axis
    it declares of any length; with ``verify``, also in a fresh process
    without the model's code), and only then placed at ``filepath``
    (``placement``), so that a failure at any point leaves whatever was at
    ``filepath`` as it was and nothing half-written behind.
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
    if verbose is False:
        capture.quiet()
    created = []  # folders made here, removed again if the export fails
    try:
        if version is not None:
            path = versioned_path(path, format, version, created)
        else:
            make_folders(os.path.dirname(path), created)
        return _export_checked(model, path, format, verbose, input_signature, overwrite,
                               model_names, scrub, version, kwargs, trained_on, verify)
    except BaseException:
        _remove_empty(created)
        raise


def _export_checked(model, path, format, verbose, input_signature, overwrite, model_names,
                    scrub, version, kwargs, trained_on, verify):
    import keras

    placement.recover(os.path.dirname(path))
    replace = _check_destination(path, format, overwrite)
    input_signature = signatures.complete(model, signatures.resolve(model, input_signature))
    backend = keras.backend.backend()
    if not model.built:
        signatures.build_from_signature(model, input_signature)
    signature = input_signature or keras_private.input_signature(model)
    # Before the model is first run: what no backend can write is said so,
    # not met as a failure inside the backend (text on JAX, say).
    limits.check(model, format, backend, signature)
    ensure_called(model)
    if verify:
        from kerasexport import workers

        # The check runs the artifact in a runtime worker: it starts
        # (importing its runtime) while the artifact is written.
        workers.warm_up("runtime", format, {})

    try:
        staging, lock = placement.make_staging(path)
    except OSError as error:
        raise _folder_error(path, error) from None
    staged = os.path.join(staging, os.path.basename(path))
    started = time.perf_counter()
    try:
        # The user never sees, and need not know, the staging folder.
        capture.rewrite_in_output(staged, path)
        capture.rewrite_in_output(staging, os.path.dirname(path))
        if verbose is False:
            capture.hide_internal_warnings()
        target = limits.crossing_backend(model, format, backend, signature) \
            or (crossing.native_backend(format, backend) if crossing.needed(backend, format) else None)
        try:
            if target is None:
                try:
                    record = _export_here(model, staged, staging, path, format, backend, verbose,
                                          input_signature, signature, model_names, scrub, kwargs,
                                          trained_on)
                except probe.DynamicAxisError:
                    # Another backend's exporter may keep the axis: go there,
                    # where the model can go.
                    target = crossing.fallback_backend(format, backend)
                    if target is None:
                        raise
                    _clear(staging)
            if target is not None:
                record = crossing.export_across(model, staged, format, backend, verbose,
                                                input_signature, model_names, scrub, kwargs,
                                                target=target, shown_path=path)
                record = {k: v for k, v in record.items() if k not in ("path", "seconds", "version")}
            elif verify:
                from kerasexport.verify import verify as verify_artifact

                verify_artifact(staged, format, model, shown_path=path, signature=signature)
        except KerasExportError as error:
            raise _shown(error, staged, staging, path) from None
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM):
                raise _folder_error(path, error) from None
            raise _export_failed(error, format, backend, staged, staging, path) from error
        except Exception as error:
            raise _export_failed(error, format, backend, staged, staging, path) from error
        if not os.path.lexists(staged):
            raise ExportFailedError(f"Keras wrote no artifact for format {format!r}.")
        try:
            new = [(f, os.path.join(os.path.dirname(path), os.path.basename(f)))
                   for f in artifact_formats.files(staged, format)]
            old = artifact_formats.files(path, format) if replace else []
            _check_companions(new, old, path)
            placement.place(staging, new, old, path)
        except KerasExportError:
            raise
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
        lock.close()
        shutil.rmtree(staging, ignore_errors=True)

    result = dict(record, path=path, seconds=time.perf_counter() - started)
    if version is not None:
        entry = versions.version_entry(format)
        result["version"] = int(os.path.basename(os.path.dirname(path) if entry else path))
    return result


def _export_here(model, staged, staging, path, format, backend, verbose, input_signature,
                 signature, model_names, scrub, kwargs, trained_on):
    """Write the artifact with this process's backend, then check it
    (``probe``) before anything is placed; returns its record."""
    fmt = artifact_formats.module(format)
    named = fmt is not None and fmt.NAMED
    format_kwargs = dict(kwargs)
    if named:
        format_kwargs["model_names"] = model_names
    record = _record(model, format, trained_on or backend, backend, input_signature,
                     model_names and named)
    runners = []
    if fmt is not None:
        def finish(artifact, runner=None):
            if scrub:
                record["local_information_removed"] = fmt.scrub(
                    artifact, scrubbing.Finder([staging, os.path.dirname(path)]))
            fmt.write_record(artifact, record)
            if runner is not None:
                runners.append(runner)

        format_kwargs["finish"] = finish
    with keras_private.export_fixes(model, format, signature):
        _exporter(format)(model, staged, backend, verbose=verbose,
                          input_signature=input_signature, **format_kwargs)
    if fmt is not None:
        probe.check(model, staged, format, signature, backend,
                    runner=runners[0] if runners else None, shown_path=path)
    return record


def _clear(staging):
    """Empty the staging folder for another try; its lock stays."""
    for name in os.listdir(staging):
        if not name.startswith(".kerasexport-"):
            entry = os.path.join(staging, name)
            if os.path.isdir(entry):
                shutil.rmtree(entry, ignore_errors=True)
            else:
                os.remove(entry)


def _check_companions(new, old, path):
    """A file beside ``path`` that is not part of the old artifact is never
    replaced."""
    for _, target in new[1:]:
        if os.path.lexists(target) and target not in old:
            raise ArtifactError(
                f"{target!r} already exists and is not part of an artifact at {path!r}; "
                "kerasexport never replaces it.",
                hint="Move it away, or choose another path for the artifact.",
                path=target,
            )


def _shown(error, staged, staging, path):
    """``error`` naming the user's path wherever it named the staging folder."""
    def shown(value):
        if isinstance(value, str):
            return value.replace(staged, path).replace(staging, os.path.dirname(path))
        return value

    error.message = shown(error.message)
    error.args = (error.message,)
    error.hint = shown(error.hint)
    error.fields = {k: shown(v) for k, v in error.fields.items()}
    return error


def _export_failed(error, format, backend, staged, staging, path):
    """Keras' failure, in one or two sentences: an exporter's message can
    hold a whole traced graph with the paths of this machine's files."""
    text = str(error).replace(staged, path).replace(staging, os.path.dirname(path))
    kept = scrubbing.Finder([os.path.dirname(path)]).clean(first_lines(text, 3, 600), keep=[path])
    return ExportFailedError(
        f"Keras could not export the model to {format!r} ({type(error).__name__}): {kept}",
        python_type=type(error).__name__, backend=backend, format=format)


def _folder_error(path, error):
    reasons = {errno.EROFS: "is on a read-only file system",
               errno.EACCES: "cannot be written to (permission denied)",
               errno.EPERM: "cannot be written to (operation not permitted)",
               errno.ENOSPC: "has no space left", errno.EDQUOT: "is over its disk quota"}
    folder = os.path.dirname(path)
    reason = reasons.get(error.errno, f"cannot hold the artifact ({error.strerror or error})")
    return ArtifactError(
        f"The artifact cannot be written to {path!r}: the folder {folder!r} {reason}. Nothing "
        "was written there.",
        hint="Choose a folder you can write to with room for the artifact.", path=path,
        errno=errno.errorcode.get(error.errno, str(error.errno)))


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
