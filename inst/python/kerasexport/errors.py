"""Exceptions raised by kerasexport.

Each carries ``r_class``, the suffix of the R condition class that the R layer
raises for it (``kerasexport_error_<r_class>``), and ``fields``, plain values
that R attaches to the condition so that callers can inspect them.
"""


class KerasExportError(Exception):
    r_class = "python"

    def __init__(self, message, hint=None, **fields):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.fields = fields


class UnsupportedFormatError(KerasExportError, ValueError):
    r_class = "unsupported_format"


class UnknownArgumentError(KerasExportError, TypeError):
    r_class = "unknown_argument"


class InvalidModelError(KerasExportError, TypeError):
    r_class = "invalid_model"


class MissingDependencyError(KerasExportError, ImportError):
    r_class = "missing_dependency"


class UnsupportedCombinationError(KerasExportError):
    r_class = "unsupported_combination"


class ExportFailedError(KerasExportError):
    r_class = "export_failed"


class ArtifactError(KerasExportError):
    r_class = "artifact"


class MismatchError(KerasExportError):
    r_class = "mismatch"


class DamagedArtifactError(ArtifactError):
    """An artifact whose files are missing, cut short or not what its format
    holds; R classes: kerasexport_error_damaged_artifact, then
    kerasexport_error_artifact."""

    r_class = ["damaged_artifact", "artifact"]

    @classmethod
    def at(cls, path, format, what, hint="Export the model again; if it was copied, copy it whole.",
           **fields):
        """The error for the artifact at ``path``, damaged as ``what`` says."""
        return cls(f"The {format!r} artifact at {path!r} is damaged: {what}.", hint=hint,
                   path=path, format=format, **fields)


def first_lines(error, count=1, limit=300):
    """An exception's (or a text's) first ``count`` non-empty lines, joined:
    a library's message can go on with a whole traced graph."""
    import re

    text = error if isinstance(error, str) else str(error)
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # Keras' bold, on a terminal's terms
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    kept = " ".join(lines[:count])
    return kept if len(kept) <= limit else kept[:limit] + " ..."


def reason(error):
    """``Type: first line`` of an exception, for a message."""
    return error if isinstance(error, str) else f"{type(error).__name__}: {first_lines(error)}"
