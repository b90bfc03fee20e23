"""Optional Python packages: a clear error, with the command that installs it,
when one that an export or a runtime needs is missing. Which package each
needs is listed by each format's module (EXPORT_NEEDS, RUNTIME_NEEDS).

Imports happen here, lazily, and only for what the chosen backend and format
need: exporting a PyTorch model to ONNX must not pay for importing TensorFlow.
"""

import importlib
import importlib.util
import os
import sys

from kerasexport.errors import MissingDependencyError


def pinned_versions():
    """The versions pinned in requirements.ini beside this package, by pip
    name (extras left out: ``jax[cpu]==0.10.2`` pins ``jax``)."""
    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "requirements.ini")
    pins = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.split("#", 1)[0].strip()
                if "==" in line and not line.startswith("["):
                    name, version = line.split("==", 1)
                    pins.setdefault(name.split("[", 1)[0].strip().lower(), version.strip())
    except OSError:
        pass
    return pins


def pinned_requirement(pip_name):
    """``name==version`` as pinned in requirements.ini, else the bare name."""
    version = pinned_versions().get(pip_name.lower())
    return f"{pip_name}=={version}" if version else pip_name


def install_command(pip_name):
    """The command that installs ``pip_name`` into the Python running now."""
    return f"{sys.executable} -m pip install '{pinned_requirement(pip_name)}'"


def _missing(module, pip_name, purpose, error):
    command = install_command(pip_name)
    return MissingDependencyError(
        f"{purpose} needs the Python package '{pip_name}', "
        f"which this Python ({sys.executable}) could not import ({error}).",
        hint=f"Install it into this Python with: {command}  "
        "(or make an environment with everything: kerasexport::install_kerasexport())",
        package=pip_name,
        module=module,
        requirement=pinned_requirement(pip_name),
        install=command,
    )


def require(module, pip_name, purpose):
    """Import ``module`` or raise MissingDependencyError naming the fix."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise _missing(module, pip_name, purpose, error) from None


# Modules found installed in this process: a package does not vanish while
# Python runs, and looking one up costs ~0.1 ms of every export.
_found = set()


def require_for_export(backend, format):
    """Check that what the export needs is installed, without importing it:
    the exporter imports what it uses when it uses it, and importing the
    rest would cost every export. (Keras' torch exporter uses onnxscript
    only for inputs of fixed shape; importing it takes 0.5 s and 60 MB.)"""
    from kerasexport import artifact_formats

    fmt = artifact_formats.module(format)
    purpose = f"Exporting a {backend}-backend model to {format!r}"
    for module, pip_name in (fmt.EXPORT_NEEDS.get(backend, []) if fmt else []):
        if module in _found or module in sys.modules:
            continue
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError as error:
            raise _missing(module, pip_name, purpose, error) from None
        if not found:
            raise _missing(module, pip_name, purpose, f"No module named {module!r}")
        _found.add(module)


def require_for_runtime(format):
    """Import what running a ``format`` artifact needs, in the order the
    format lists it."""
    from kerasexport import artifact_formats

    return [require(module, pip_name, f"Running a {format!r} artifact")
            for module, pip_name in artifact_formats.module(format).RUNTIME_NEEDS]


def runtime_requirements(format):
    """What running a ``format`` artifact needs in Python, as pinned
    requirement lines (for a deployment's requirements.txt)."""
    from kerasexport import artifact_formats

    needs = [pip for _, pip in artifact_formats.module(format).RUNTIME_NEEDS]
    return [pinned_requirement(name) for name in ["numpy", *needs]]
