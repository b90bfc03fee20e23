"""What kerasexport records inside each artifact: who made it and how its
inputs and outputs are named. The record travels with the artifact in a
place its format keeps and its servers ignore, which each format's module
knows (``write_record``, ``read_record``). It holds no local path and no
user name.
"""

import datetime
import functools
import os


@functools.lru_cache(maxsize=None)
def package_version():
    try:
        from importlib.metadata import version

        return version("kerasexport")
    except Exception:
        return _r_package_version()


def _r_package_version():
    description = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "DESCRIPTION")
    try:
        with open(description, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def make_record(model, format, backend, input_names, output_names, model_names):
    import keras

    return {
        "producer": "kerasexport",
        "kerasexport_version": package_version(),
        "keras_version": keras.__version__,
        "backend": backend,
        "format": format,
        "model_name": getattr(model, "name", None),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model_names": bool(model_names),
        "inputs": list(input_names),
        "outputs": list(output_names),
    }
