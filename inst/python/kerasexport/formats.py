"""Which export formats the installed Keras offers, and which keyword
arguments each accepts.

Both are asked of Keras itself, so that a new Keras release with a new format
or a new option works without a change here.
"""

import ast
import functools
import inspect
import re

from kerasexport.errors import UnknownArgumentError
from kerasexport.errors import UnsupportedFormatError

# Arguments that kerasexport passes itself, never through **kwargs.
_OWN_ARGUMENTS = {"self", "model", "filepath", "verbose", "input_signature"}



@functools.lru_cache(maxsize=None)
def supported_formats():
    """The formats accepted by ``keras.Model.export`` in the installed Keras.

    Keras keeps the list inside ``Model.export`` and names it in the error it
    raises for an unknown format, so we ask it with a format it cannot know.
    """
    import keras

    try:
        keras.Model.export(None, None, format="\x00kerasexport-probe")
    except ValueError as error:
        match = re.search(r"Supported formats are: (\[.*?\])", str(error))
        if match:
            return tuple(ast.literal_eval(match.group(1)))
    except Exception:  # pragma: no cover - depends on a future Keras
        pass
    # Fallback: one `export_<name>` function per format in keras.src.export.
    from kerasexport import keras_private

    return keras_private.export_function_formats()


def check_format(format):
    formats = supported_formats()
    if format not in formats:
        raise UnsupportedFormatError(
            f"Unknown export format {format!r}.",
            hint="Supported formats with this Keras: "
            + ", ".join(repr(f) for f in formats),
            format=str(format),
            supported=list(formats),
        )
    return format


@functools.lru_cache(maxsize=None)
def endpoint_kwargs():
    """Keyword arguments that Keras' ExportArchive endpoints accept.

    They are documented in ``ExportArchive.add_endpoint`` as a bulleted list of
    backticked names (``is_static``, ``jax2tf_kwargs`` in Keras 3.15).
    """
    from kerasexport import keras_private

    doc = keras_private.endpoint_kwargs_doc()
    section = doc.split("**kwargs", 1)[1] if "**kwargs" in doc else ""
    section = re.split(r"\n\S", section, maxsplit=1)[0]  # up to the next heading
    return tuple(sorted(set(re.findall(r"-\s+`(\w+)`", section))))


@functools.lru_cache(maxsize=None)
def accepted_kwargs(format):
    """Names of the extra keyword arguments ``format`` accepts, or None when
    the set is open (forwarded to a third-party converter)."""
    from kerasexport import artifact_formats

    fmt = artifact_formats.module(format)
    if getattr(fmt, "OPEN_KWARGS", False):
        return None
    names = set(endpoint_kwargs())
    from kerasexport import keras_private

    function = keras_private.export_function(format)
    if function is not None:
        for parameter in inspect.signature(function).parameters.values():
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
                names.add(parameter.name)
    return tuple(sorted(names - _OWN_ARGUMENTS))


def check_kwargs(format, kwargs):
    accepted = accepted_kwargs(format)
    if accepted is None:
        return kwargs
    unknown = [name for name in kwargs if name not in accepted]
    if unknown:
        listed = ", ".join(f"`{name}`" for name in unknown)
        raise UnknownArgumentError(
            f"format = {format!r} does not accept the argument(s) {listed}.",
            hint="Arguments it accepts besides `verbose` and `input_signature`: "
            + (", ".join(f"`{name}`" for name in accepted) or "none"),
            names=unknown,
            format=format,
            accepted=list(accepted),
        )
    return kwargs
