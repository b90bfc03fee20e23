import pytest

from kerasexport import formats
from kerasexport.errors import UnknownArgumentError
from kerasexport.errors import UnsupportedFormatError


def test_supported_formats_come_from_keras():
    supported = formats.supported_formats()
    assert "tf_saved_model" in supported
    assert "onnx" in supported


def test_unknown_format_lists_the_supported_ones():
    with pytest.raises(UnsupportedFormatError) as info:
        formats.check_format("pickle")
    assert info.value.fields["supported"] == list(formats.supported_formats())
    assert "onnx" in info.value.hint


def test_accepted_kwargs_are_read_from_keras():
    assert "opset_version" in formats.accepted_kwargs("onnx")
    assert {"is_static", "jax2tf_kwargs"} <= set(formats.accepted_kwargs("tf_saved_model"))
    assert "opset_version" not in formats.accepted_kwargs("tf_saved_model")
    assert formats.accepted_kwargs("torch") is None  # forwarded to torch.export


def test_unknown_kwarg_is_named():
    with pytest.raises(UnknownArgumentError) as info:
        formats.check_kwargs("tf_saved_model", {"opset_version": 17, "is_static": True})
    assert info.value.fields["names"] == ["opset_version"]
