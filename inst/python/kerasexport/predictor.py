"""Load an exported artifact and predict with it: by input name or position,
with dtypes cast to the signature's, in batches. No Keras and no model code
are needed. Used from R (load_savedmodel(), predict()) and by the server."""

import numpy as np

from kerasexport.errors import KerasExportError
from kerasexport.errors import first_lines
from kerasexport.inspect_artifact import describe
from kerasexport.signatures import shape_text


class InputError(KerasExportError, ValueError):
    """The request's inputs do not fit the artifact's signature."""

    r_class = "predict_input"


PRECISIONS = ("float32", "bfloat16", "float16")


class Predictor:
    """An artifact of any format kerasexport knows, run by its format's
    runtime through the endpoint clients call ("serving_default").

    ``precision`` is what the runtime computes in: "float32", the
    artifact's own, by default on every CPU (OpenVINO would otherwise take
    bfloat16 on CPUs that have it); "bfloat16" or "float16" where the
    format's runtime offers it (``PRECISIONS`` of its module), faster and
    less exact."""

    def __init__(self, path, format=None, signature_name=None, precision="float32"):
        from kerasexport import artifact_formats

        check_precision(precision)
        self.info = describe(path, format)
        self.path = self.info["path"]
        self.format = self.info["format"]
        fmt = artifact_formats.module(self.format)
        if precision not in getattr(fmt, "PRECISIONS", ("float32",)):
            from kerasexport.errors import UnsupportedCombinationError

            offered = [name for name in artifact_formats.known()
                       if precision in getattr(artifact_formats.module(name), "PRECISIONS", ())]
            raise UnsupportedCombinationError(
                f"The {self.format!r} runtime computes in float32 only; precision = "
                f"{precision!r} is offered for {', '.join(repr(f) for f in offered)} artifacts.",
                hint='Leave `precision` as "float32", or export to a format that offers it.',
                precision=precision, format=self.format, alternatives=offered)
        try:
            self._runner = fmt.Runner(self.path, self.info, precision=precision)
        except KerasExportError:
            raise
        except Exception as error:
            from kerasexport.errors import ArtifactError

            raise ArtifactError(
                f"The {self.format!r} artifact at {self.path!r} cannot be loaded by its runtime "
                f"({type(error).__name__}: {first_lines(error)}).",
                hint="Export it again; if it was copied, copy all of its files.",
                path=self.path, format=self.format, reason=first_lines(error)) from None
        self._set_endpoints(signature_name)
        self.precision = getattr(self._runner, "precision", precision)

    @classmethod
    def for_runner(cls, runner, format, path=None):
        """A Predictor around a runner made without loading the artifact
        (the function a SavedModel export traced, for ``probe``)."""
        self = cls.__new__(cls)
        self.info = {"endpoints": list(runner.endpoints.values()), "format": format, "path": path}
        self.path, self.format, self._runner = path, format, runner
        self.precision = "float32"
        self._set_endpoints(None)
        return self

    def _set_endpoints(self, signature_name):
        self._endpoints = self._runner.endpoints
        self.signature_names = list(self._endpoints)
        self.default_signature = self._runner.default
        self.signature(signature_name)  # fail early on an unknown name

    def signature(self, name=None):
        name = name or self.default_signature
        if name not in self._endpoints:
            raise InputError(
                f"Serving signature name: \"{name}\" not found in signature def",
                hint="Signatures: " + ", ".join(self.signature_names), status=400)
        return self._endpoints[name]

    def _run(self, name, feed):
        return self._runner.run(name, feed)

    def prepare(self, inputs, signature_name=None):
        """Match ``inputs`` (a dict by name, a list by position, or one
        array) to the signature, cast dtypes and check shapes."""
        spec = self.signature(signature_name)["inputs"]
        names = [s["name"] for s in spec]
        if isinstance(inputs, dict):
            unknown = [k for k in inputs if k not in names]
            missing = [n for n in names if n not in inputs]
            if unknown or missing:
                raise InputError(
                    "Inputs do not match the signature: "
                    + (f"unknown {unknown}; " if unknown else "")
                    + (f"missing {missing}; " if missing else "")
                    + f"expected {names}.", status=400)
            values = [inputs[n] for n in names]
        else:
            values = list(inputs) if isinstance(inputs, (list, tuple)) and len(names) > 1 else [inputs]
            if len(values) != len(names):
                raise InputError(f"The signature has {len(names)} inputs ({names}); "
                                 f"{len(values)} were given.", status=400)
        feed = {}
        batch = None
        for s, value in zip(spec, values):
            array = as_input_array(value, s["name"], s["dtype"])
            shape = s["shape"]
            if shape is not None and array.ndim == len(shape) - 1 and shape[-1] == 1:
                # One value per instance, for an input of shape (NA, 1): a
                # vector of n values is n instances.
                array = array[..., np.newaxis]
            if shape is not None:
                if array.ndim != len(shape):
                    raise InputError(
                        f"Input {s['name']!r} has rank {array.ndim} (shape {shape_text(array.shape)}); the "
                        f"signature expects rank {len(shape)} (shape {shape_text(shape)}).", status=400)
                for axis, (want, got) in enumerate(zip(shape, array.shape)):
                    if want is not None and want != got:
                        raise InputError(
                            f"Input {s['name']!r} has size {got} on axis {axis}; the signature "
                            f"expects {want} (shape {shape_text(shape)}).", status=400)
            if array.ndim == 0 or array.shape[0] == 0:
                raise InputError(f"Input {s['name']!r} holds no instances (empty batch).",
                                 status=400)
            if batch is not None and array.shape[0] != batch:
                raise InputError("All inputs must hold the same number of instances.", status=400)
            batch = array.shape[0]
            feed[s["name"]] = array
        return feed, batch

    def predict(self, inputs, signature_name=None, batch_size=4096):
        """Outputs by name, as numpy arrays, for ``inputs``."""
        name = signature_name or self.default_signature
        feed, batch = self.prepare(inputs, name)
        if batch <= batch_size:
            return self._run(name, feed)
        parts = [self._run(name, {k: v[start:start + batch_size] for k, v in feed.items()})
                 for start in range(0, batch, batch_size)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def output_names(self, signature_name=None):
        return [o["name"] for o in self.signature(signature_name)["outputs"]]


def as_input_array(value, name, dtype):
    """``value`` as a row-major array of ``dtype``, copied at most once (R
    hands over column-major doubles). Values that a cast would silently turn
    into other numbers are an InputError: NaN, infinity, fractions or
    out-of-range numbers for an integer input, anything but 0 and 1 for a
    boolean one."""
    if dtype in ("string", "object"):
        return _text_array(value, name)
    target = np.dtype(dtype)
    if not isinstance(value, np.ndarray):
        value = np.asarray(value)
    if value.dtype.kind in "SU" or (value.dtype.kind == "O" and value.size and
                                    isinstance(value.flat[0], (str, bytes))):
        raise InputError(f"Input {name!r} takes numbers ({dtype}); it holds text.", status=400)
    try:
        if target.kind not in "iub":
            # R's NA reaches numpy as a NaN that numpy warns about when cast
            # (on stderr, outside R's conditions): NaN it stays, silently.
            with np.errstate(invalid="ignore", over="ignore"):
                return np.asarray(value, dtype=target, order="C")
        source = np.asarray(value)
        if source.dtype.kind == "f" and source.size:
            if not np.isfinite(source).all():
                raise InputError(f"Input {name!r} is {dtype} and cannot hold NaN or infinity "
                                 "(a missing value?).", status=400)
            if target.kind == "b":
                if not np.isin(source, (0, 1)).all():
                    raise InputError(f"Input {name!r} is boolean: give 0 or 1, TRUE or FALSE.",
                                     status=400)
            elif (source != np.trunc(source)).any():
                raise InputError(f"Input {name!r} is {dtype} and takes whole numbers only.",
                                 status=400)
        if target.kind in "iu" and source.dtype.kind in "iuf" and source.size:
            limits = np.iinfo(target)
            if source.min() < limits.min or source.max() > limits.max:
                raise InputError(f"Input {name!r} is {dtype}: values must lie in "
                                 f"[{limits.min}, {limits.max}].", status=400)
        return np.asarray(source, dtype=target, order="C")
    except (TypeError, ValueError, OverflowError) as error:
        if isinstance(error, InputError):
            raise
        raise InputError(f"Input {name!r} cannot be read as {dtype}: {error}", status=400) from None


def _text_array(value, name):
    """Text as an object array of Python strings: what TensorFlow,
    onnxruntime and the LiteRT runner each take or convert. Bytes are read
    as UTF-8 where they are; where some are not (an image sent as TF-Serving's
    b64), every value goes as bytes, which TensorFlow takes."""
    array = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if array.dtype.kind == "U":
        return array.astype(object)
    if array.dtype.kind == "S":
        array = array.astype(object)
    if array.dtype.kind == "O" and all(isinstance(v, (str, bytes)) for v in array.flat):
        try:
            return np.vectorize(lambda v: v.decode("utf-8") if isinstance(v, bytes) else v,
                                otypes=[object])(array) if array.size else array
        except UnicodeDecodeError:
            return np.vectorize(lambda v: v.encode("utf-8") if isinstance(v, str) else v,
                                otypes=[object])(array)
    raise InputError(f"Input {name!r} takes text; it holds {array.dtype.name} values.",
                     hint="Give it strings (a character vector or matrix from R).", status=400)


def check_precision(precision):
    if precision not in PRECISIONS:
        raise InputError(f"`precision` must be one of {', '.join(repr(p) for p in PRECISIONS)}, "
                         f"not {precision!r}.", status=400)
    return precision


def load(path, format=None, precision="float32"):
    return Predictor(path, format, precision=precision)
