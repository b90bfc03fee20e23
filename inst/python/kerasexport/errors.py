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
