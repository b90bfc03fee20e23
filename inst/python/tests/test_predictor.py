import numpy as np
import pytest

from conftest import artifact_name
from conftest import backend_formats
from kerasexport import export_model
from kerasexport import load_artifact
from kerasexport.predictor import InputError


@pytest.mark.parametrize("format", backend_formats())
def test_predictions_match_the_model(tmp_path, small_model, iris_like, format):
    path = export_model(small_model, str(tmp_path / artifact_name(format)), format=format,
                        verbose=False)["path"]
    predictor = load_artifact(path)
    want = np.asarray(small_model.predict(iris_like, verbose=0))
    got = predictor.predict(iris_like.astype("float64"))  # cast to float32 by the signature
    np.testing.assert_allclose(got["species" if "species" in got else list(got)[0]], want, atol=1e-5)
    sliced = predictor.predict({"features": iris_like}, batch_size=3)
    np.testing.assert_allclose(list(sliced.values())[0], want, atol=1e-5)


def test_inputs_are_checked(tmp_path, small_model):
    path = export_model(small_model, str(tmp_path / "m.onnx"), format="onnx", verbose=False)["path"]
    predictor = load_artifact(path)
    with pytest.raises(InputError, match="axis 1"):
        predictor.predict(np.zeros((2, 3)))
    with pytest.raises(InputError, match="empty batch"):
        predictor.predict(np.zeros((0, 4)))
    with pytest.raises(InputError, match="unknown"):
        predictor.predict({"other": np.zeros((1, 4))})
    with pytest.raises(InputError, match="not found"):
        predictor.predict(np.zeros((1, 4)), signature_name="nope")
