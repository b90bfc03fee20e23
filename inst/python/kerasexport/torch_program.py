"""PyTorch ExportedProgram (format "torch"): one .pt2 file, run with
``torch.export.load(path).module()``; everything kerasexport knows about it
(see ``artifact_formats``).

Keras traces the program for a batch of one unless told otherwise; here
every axis the signature leaves free stays free, as in the other formats.
torch.export fixes an axis where the model's code needs one size
(``probe`` then says so). The program's inputs and outputs keep torch's
names (args_0, output_0); the model's names are recorded, and ``describe``
shows them."""

import json
import os
import zipfile

from kerasexport import artifact_formats
from kerasexport import dependencies
from kerasexport import keras_private

FORMAT = "torch"
SUFFIX = ".pt2"
VERSION_ENTRY = "model.pt2"
NATIVE_BACKENDS = ("torch",)
EXPORT_NEEDS = {"torch": [("torch", "torch")]}
RUNTIME_NEEDS = [("torch", "torch")]
NAMED = True  # in the record: the program's own names cannot change
OPEN_KWARGS = True  # torch.export judges the other arguments
RECORD_FILE = "kerasexport.json"  # one of the archive's extra files
# float32 only: an ExportedProgram checks its inputs' dtypes and is made of
# ATen ops of fixed dtypes, so torch.autocast cannot lower it ("Tensor dtype
# mismatch! Expected: Float, Got: BFloat16").
PRECISIONS = ("float32",)


def export(model, filepath, backend, verbose=None, input_signature=None, finish=None,
           model_names=True, **kwargs):
    from keras import tree

    dependencies.require_for_export(backend, FORMAT)
    if "dynamic_shapes" not in kwargs:
        import torch

        signature = input_signature or keras_private.input_signature(model)
        # One Dim for the batch, shared by every input; AUTO for other free
        # axes, which torch.export keeps free or fixes as the code needs.
        batch = torch.export.Dim("batch", min=1)

        def free_axes(spec):
            return {axis: (batch if axis == 0 else torch.export.Dim.AUTO)
                    for axis, size in enumerate(spec.shape) if size is None}

        if any(d is None for spec in tree.flatten(signature) for d in spec.shape):
            kwargs["dynamic_shapes"] = [tuple(
                tree.map_structure(free_axes, part) for part in signature)]
    if finish is None:
        model.export(filepath, format=FORMAT, verbose=verbose, input_signature=input_signature,
                     **kwargs)
        return
    # Keras traces the program and saves it; kerasexport keeps the program
    # and saves it once, with its record, after checking it in memory
    # (loading a program back costs seconds for a large model).
    import torch

    traced = {}
    save = torch.export.save
    torch.export.save = lambda program, f, *args, **kwargs: traced.setdefault("program", program)
    try:
        model.export(filepath, format=FORMAT, verbose=verbose, input_signature=input_signature,
                     **kwargs)
    finally:
        torch.export.save = save
    program = traced["program"]
    _unsaved[filepath] = program
    try:
        finish(filepath, Runner.for_program(program))
    finally:
        _unsaved.pop(filepath, None)


# Programs traced and not yet saved, by path: write_record() saves them.
_unsaved = {}


# --- on disk ---------------------------------------------------------------------

def is_artifact(path):
    return os.path.isfile(path) and path.endswith(SUFFIX) and zipfile.is_zipfile(path)


def files(path):
    return [path]


def _load(path, extra_files=None):
    from kerasexport.errors import DamagedArtifactError
    from kerasexport.errors import reason

    (torch,) = dependencies.require_for_runtime(FORMAT)
    try:
        return torch, torch.export.load(path, extra_files=extra_files)
    except Exception as error:
        raise DamagedArtifactError.at(
            path, FORMAT, f"torch.export cannot load it ({reason(error)})") from None


def _tensor(name, value):
    shape = [int(d) if isinstance(d, int) or str(d).isdigit() else None
             for d in getattr(value, "shape", [])]
    dtype = str(getattr(value, "dtype", "float32")).replace("torch.", "")
    return {"name": name, "dtype": dtype, "shape": shape}


def _children(spec):
    # torch 2.13 deprecates children_specs for children().
    return list(spec.children()) if hasattr(spec, "children") else list(spec.children_specs)


def _dict_keys(spec):
    """The keys of a dict at the top of a pytree spec, or None."""
    return list(spec.context) if spec is not None and spec.type is dict else None


def describe(path):
    """The program's user inputs and outputs, with shapes from its graph
    (a dynamic axis is None). A model that takes or returns a dict has its
    keys as names; others have the names kerasexport recorded, or the
    program's (args_0, output_0, ...)."""
    torch, program = _load(path)
    inputs, outputs = _program_io(program, read_record(path) or {})
    return {"endpoints": [{"name": "serving_default", "inputs": inputs, "outputs": outputs}],
            "producer": f"PyTorch {torch.__version__}", "opset": []}


def _program_io(program, record):
    """The program's user inputs and outputs, in the program's own order."""
    signature = program.graph_signature
    nodes = {node.name: node for node in program.graph.nodes}
    args_spec = _children(program.call_spec.in_spec)[0]
    model_input = _children(args_spec)[0] if args_spec.num_children == 1 else None
    input_keys = _dict_keys(model_input)
    recorded_inputs, recorded_outputs = record.get("inputs") or [], record.get("outputs") or []
    input_names = input_keys if input_keys and len(input_keys) == len(signature.user_inputs) \
        else recorded_inputs if len(recorded_inputs) == len(signature.user_inputs) \
        else list(signature.user_inputs)
    inputs = [_tensor(name, nodes[node].meta.get("val"))
              for name, node in zip(input_names, signature.user_inputs)]
    output_node = next(node for node in program.graph.nodes if node.op == "output")
    values = {getattr(arg, "name", str(arg)): arg.meta.get("val")
              for arg in output_node.args[0] if hasattr(arg, "meta")}
    output_keys = _dict_keys(program.call_spec.out_spec)
    output_names = output_keys if output_keys and len(output_keys) == len(signature.user_outputs) \
        else recorded_outputs if len(recorded_outputs) == len(signature.user_outputs) \
        else [f"output_{i}" for i in range(len(signature.user_outputs))]
    outputs = [_tensor(name, values.get(node))
               for name, node in zip(output_names, signature.user_outputs)]
    return inputs, outputs


def write_record(path, record):
    program = _unsaved.pop(path, None)
    if program is None:
        torch, program = _load(path)
    else:
        import torch
    torch.export.save(program, path,
                      extra_files={RECORD_FILE: json.dumps(record, indent=2, sort_keys=True)})


def read_record(path):
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith("/" + RECORD_FILE) or name == RECORD_FILE:
                    return json.loads(archive.read(name))
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
    return None

scrub = artifact_formats.scrub_nothing
copy_to = artifact_formats.copy_file


# --- running it ------------------------------------------------------------------

def _writable(array):
    """torch tensors share a NumPy array's memory and torch warns about one
    it may not write to (R's arrays arrive read-only): copy only those."""
    import numpy as np

    array = np.ascontiguousarray(array)
    return array if array.flags.writeable else array.copy()


class Runner:
    """The program's module, called with the inputs in the program's order."""

    def __init__(self, path, info, precision="float32", program=None, record=None):
        if program is None:
            self._torch, program = _load(path)
            record = read_record(path) or {}
        else:
            import torch

            self._torch = torch
        self.precision = precision
        self._module = program.module()
        # The module takes its inputs in the structure they were traced in
        # (a list, a dict): the flat inputs are put back into it.
        self._in_spec = program.call_spec.in_spec
        # The program's order, which the endpoint's (the model's, for
        # describe()) need not be.
        inputs, outputs = _program_io(program, record or {})
        endpoints = info["endpoints"] if info else [
            {"name": "serving_default", "inputs": inputs, "outputs": outputs}]
        self.endpoints = {e["name"]: e for e in endpoints}
        self.default = "serving_default"
        self._inputs = [t["name"] for t in inputs]
        self._outputs = [t["name"] for t in outputs]

    @classmethod
    def for_program(cls, program):
        """A runner of a program in memory, before it is saved (``probe``)."""
        return cls(None, None, program=program)

    def run(self, name, feed):

        from torch.utils import _pytree as pytree

        torch = self._torch
        flat = [torch.from_numpy(_writable(feed[n])) for n in self._inputs]
        args, kwargs = pytree.tree_unflatten(flat, self._in_spec)
        with torch.no_grad():
            outputs = pytree.tree_leaves(self._module(*args, **kwargs))
        return {n: o.detach().cpu().numpy() for n, o in zip(self._outputs, outputs)}
