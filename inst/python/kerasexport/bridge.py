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


def call(name, kwargs=None):
    """Call public function ``name`` of kerasexport."""
    if name in kerasexport.__all__:
        function = getattr(kerasexport, name)
    else:
        raise AttributeError(f"kerasexport has no public function {name!r}")
    captured = None
    try:
        with capture_output() as captured:
            value = function(**(kwargs or {}))
    except BaseException as error:
        if captured is not None:
            error.kerasexport_captured = captured.as_dict()
        raise
    return {"value": value, "captured": captured.as_dict()}
