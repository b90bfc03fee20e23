"""The single door R comes through.

``call(name, kwargs)`` runs one public function of this package with its
output captured, and returns ``{"value": ..., "captured": ...}``; on failure
the exception carries the capture as ``kerasexport_captured``. R replays the
capture as messages and warnings, so that what Python and its C++ libraries
print (TensorFlow's start-up logs included) reaches R's condition system
instead of the console.
"""

import kerasexport
from kerasexport.capture import capture_output


def call(name, kwargs=None, target=None, capture=True):
    """Call public function ``name`` of kerasexport, or public method
    ``name`` of ``target`` (an object kerasexport returned). ``capture=False``
    skips the output capture, for calls on a hot path (predict) that print
    nothing: redirecting file descriptors costs more than a small model's
    prediction."""
    if target is not None:
        if name.startswith("_"):
            raise AttributeError(f"{name!r} is not a public method")
        function = getattr(target, name)
    elif name in kerasexport.__all__:
        function = getattr(kerasexport, name)
    else:
        raise AttributeError(f"kerasexport has no public function {name!r}")
    if not capture:
        return {"value": function(**(kwargs or {})), "captured": None}
    captured = None
    try:
        with capture_output() as captured:
            value = function(**(kwargs or {}))
    except BaseException as error:
        if captured is not None:
            error.kerasexport_captured = captured.as_dict()
        raise
    return {"value": value, "captured": captured.as_dict()}
