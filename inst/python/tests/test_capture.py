import os
import sys
import warnings

from kerasexport.capture import capture_output
from kerasexport.capture import hide_internal_warnings
from kerasexport.capture import rewrite_in_output


def test_python_and_native_output_are_captured():
    with capture_output() as captured:
        print("from python")
        sys.stderr.write("to stderr\n")
        os.write(1, b"from C on fd 1\n")
        os.write(2, b"from C on fd 2\n")
    assert captured.lines == ["from python", "to stderr", "from C on fd 1", "from C on fd 2"]


def test_warnings_are_recorded_with_their_kind():
    with capture_output() as captured:
        warnings.warn("for the user", UserWarning)
        warnings.warn("about internals", DeprecationWarning)
    kinds = {w["message"]: w["internal"] for w in captured.warnings}
    assert kinds == {"for the user": False, "about internals": True}


def test_internal_warnings_can_be_hidden_and_others_cannot():
    with capture_output() as captured:
        hide_internal_warnings()
        warnings.warn("for the user", UserWarning)
        warnings.warn("about internals", DeprecationWarning)
        warnings.warn("in the future", FutureWarning)
    assert [w["message"] for w in captured.warnings] == ["for the user"]


def test_python_warning_filters_decide_what_is_recorded():
    # As in a plain Python session: a filter (Python's default ones hide
    # DeprecationWarning outside __main__, or one the user set) holds.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message="silenced by the user")
        with capture_output() as captured:
            warnings.warn("silenced by the user", UserWarning)
            warnings.warn("about internals", DeprecationWarning)
            warnings.warn("for the user", UserWarning)
    assert [w["message"] for w in captured.warnings] == ["for the user"]


def test_paths_are_rewritten_in_output():
    with capture_output() as captured:
        rewrite_in_output("/tmp/.staging/model", "/home/me/model")
        print("Saved artifact at '/tmp/.staging/model'.")
    assert captured.lines == ["Saved artifact at '/home/me/model'."]
