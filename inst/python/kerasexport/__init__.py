"""kerasexport: export trained Keras 3 models to standalone inference
artifacts, and check that they reproduce the model.

Plain Python, importable and testable without R. The R package reaches it
through reticulate.
"""

from kerasexport.dependencies import runtime_requirements
from kerasexport.deploy import write_deployment
from kerasexport.errors import KerasExportError
from kerasexport.export import describe_kwargs
from kerasexport.export import export_model
from kerasexport.formats import accepted_kwargs
from kerasexport.formats import supported_formats
from kerasexport.inspect_artifact import describe as describe_artifact
from kerasexport.predictor import load as load_artifact
from kerasexport.repository import model_config_names
from kerasexport.repository import servable_versions
from kerasexport.verify import verify

__all__ = [
    "KerasExportError",
    "accepted_kwargs",
    "describe_artifact",
    "describe_kwargs",
    "export_model",
    "load_artifact",
    "model_config_names",
    "runtime_requirements",
    "servable_versions",
    "supported_formats",
    "verify",
    "write_deployment",
]
