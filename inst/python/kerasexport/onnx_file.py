"""Read and write an ONNX file without its weights passing through Python.

A large model's ONNX file is almost all weights. ``onnx.load()`` parses every
byte of them into Python objects and ``onnx.save()`` serializes them again:
for a 200 MB model that is a second and twice its size in memory, only to
rename two inputs and add a metadata entry. So :func:`read_graph` reads the
protobuf wire format (https://protobuf.dev/programming-guides/encoding/) only
as far as it must to find where each initializer's raw bytes lie, parses the
rest with onnx's own classes, and lets each large initializer refer to its
bytes the way ONNX external data does (location, offset, length), in the file
itself when they lie there. :func:`write` then copies those bytes, in the
kernel, from where they lie to where they go: into one self-contained file,
or into a ``.data`` file beside it.
"""

import mmap
import os

# Raw tensor bytes below this size are parsed like the rest of the graph
# (onnx.save_model()'s default threshold for external data).
SIZE_THRESHOLD = 1024

_LENGTH_DELIMITED = 2


def _field_number(message_class, name):
    return message_class.DESCRIPTOR.fields_by_name[name].number


def _decode_varint(buffer, position):
    result = shift = 0
    while True:
        byte = buffer[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7


def _encode_varint(value):
    encoded = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            encoded.append(byte | 0x80)
        else:
            encoded.append(byte)
            return bytes(encoded)


def _tag(number):
    """The key of a length-delimited field."""
    return _encode_varint(number << 3 | _LENGTH_DELIMITED)


def _fields(buffer, start, end):
    """Each field of the message in ``buffer[start:end]``, as (number,
    wire type, start of the field, start of its value, end)."""
    position = start
    while position < end:
        field_start = position
        key, position = _decode_varint(buffer, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, value_end = _decode_varint(buffer, position)
        elif wire_type == 1:
            value_end = position + 8
        elif wire_type == _LENGTH_DELIMITED:
            length, position = _decode_varint(buffer, position)
            value_end = position + length
        elif wire_type == 5:
            value_end = position + 4
        else:  # groups (3, 4) are not in onnx.proto
            raise ValueError(f"unexpected protobuf wire type {wire_type}")
        if number == 0 or value_end > end:
            raise ValueError("not a protobuf message")
        yield number, wire_type, field_start, position, value_end
        position = value_end


def _refer_to(tensor, location, offset, length):
    """Make ``tensor`` an ONNX external-data tensor whose bytes lie in
    ``location`` (relative to the graph's folder)."""
    import onnx

    tensor.data_location = onnx.TensorProto.EXTERNAL
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        tensor.external_data.add(key=key, value=str(value))


def _read_tensor(buffer, start, end, location):
    import onnx

    raw_data = _field_number(onnx.TensorProto, "raw_data")
    kept, raw = [], None
    for number, wire_type, field_start, value_start, value_end in _fields(buffer, start, end):
        if (number == raw_data and wire_type == _LENGTH_DELIMITED
                and value_end - value_start >= SIZE_THRESHOLD):
            raw = (value_start, value_end - value_start)
        else:
            kept.append(buffer[field_start:value_end])
    tensor = onnx.TensorProto.FromString(b"".join(kept))
    if raw is not None:
        _refer_to(tensor, location, *raw)
    return tensor


def read_graph(path):
    """The ONNX model in ``path`` without its weights read: each initializer
    of 1 KB or more refers to where its bytes lie, in ``path`` itself or in
    the file of external data the model already uses. Raises ``ValueError``
    for a file that is not an ONNX model."""
    import onnx
    from google.protobuf.message import DecodeError

    model_graph = _field_number(onnx.ModelProto, "graph")
    graph_initializer = _field_number(onnx.GraphProto, "initializer")
    location = os.path.basename(path)
    try:
        with open(path, "rb") as handle, \
                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
            model_parts, graph_spans = [], []
            for number, wire_type, start, value_start, end in _fields(buffer, 0, len(buffer)):
                if number == model_graph and wire_type == _LENGTH_DELIMITED:
                    graph_spans.append((value_start, end))
                else:
                    model_parts.append(buffer[start:end])
            graph_model = onnx.ModelProto.FromString(b"".join(model_parts))
            # A message field that occurs twice is merged, as protobuf does.
            for graph_start, graph_end in graph_spans:
                graph_parts, initializers = [], []
                for number, wire_type, start, value_start, end in _fields(
                        buffer, graph_start, graph_end):
                    if number == graph_initializer and wire_type == _LENGTH_DELIMITED:
                        initializers.append(_read_tensor(buffer, value_start, end, location))
                    else:
                        graph_parts.append(buffer[start:end])
                graph_model.graph.MergeFromString(b"".join(graph_parts))
                graph_model.graph.initializer.extend(initializers)
    except (IndexError, DecodeError, ValueError) as error:
        # mmap refuses an empty file with a ValueError too.
        raise ValueError(f"{path!r} is not an ONNX model ({error}).") from error
    return graph_model


def is_onnx(path):
    """Whether ``path`` is a readable ONNX model file."""
    try:
        read_graph(path)
    except (OSError, ValueError):
        return False
    return True


def data_file(path):
    """Where an ONNX file's external weights go: one file beside it, named
    after it (Keras' JAX exporter uses the same name)."""
    return path + ".data"


def weight_files(graph_model, path):
    """The files beside ``path`` (names relative to its folder) that hold
    weights of ``graph_model``, not counting ``path`` itself."""
    from onnx.external_data_helper import ExternalDataInfo
    from onnx.external_data_helper import uses_external_data

    names = {ExternalDataInfo(t).location
             for t in graph_model.graph.initializer if uses_external_data(t)}
    return sorted(names - {os.path.basename(path)})


def _write_all(descriptor, data):
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view):]


_COPY_FILE_RANGE = getattr(os, "copy_file_range", None)


def _copy_range(source, offset, length, descriptor):
    """Append ``length`` bytes of ``source`` from ``offset`` to the open
    file ``descriptor``: in the kernel where it can, else in 8 MB reads."""
    with open(source, "rb") as handle:
        if offset + length > os.fstat(handle.fileno()).st_size:
            raise ValueError(f"{source!r} is shorter than its tensors say.")
        while length:
            copied = 0
            if _COPY_FILE_RANGE is not None:  # Linux only
                try:
                    copied = _COPY_FILE_RANGE(handle.fileno(), descriptor, length, offset)
                except OSError:  # a file system or kernel without it
                    pass
            if not copied:
                chunk = os.pread(handle.fileno(), min(length, 8 << 20), offset)
                if not chunk:
                    raise ValueError(f"{source!r} ended early.")
                _write_all(descriptor, chunk)
                copied = len(chunk)
            offset += copied
            length -= copied


def _streamed(graph_model, folder):
    """Take the initializers that refer to bytes on disk out of
    ``graph_model``, with the file, offset and length of their bytes."""
    from onnx.external_data_helper import ExternalDataInfo
    from onnx.external_data_helper import uses_external_data

    graph = graph_model.graph
    streamed = []
    kept = []
    for tensor in graph.initializer:
        if not uses_external_data(tensor):
            kept.append(tensor)
            continue
        info = ExternalDataInfo(tensor)
        source = os.path.join(folder, info.location)
        offset = info.offset or 0
        length = info.length if info.length is not None else os.path.getsize(source) - offset
        streamed.append((tensor, source, offset, length))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return streamed


def write(graph_model, path, external_data):
    """Write ``graph_model`` to ``path`` with its weights inside the file,
    or (``external_data``) those of 1 KB or more in one ``.data`` file beside
    it, named after it. Files beside ``path`` that held its weights before
    and no longer do are removed: ``path`` must be a folder's only model, as
    it is in an export's staging folder."""
    import onnx

    folder = os.path.dirname(path)
    data_path = data_file(path)
    # Weights elsewhere in the model (constants in nodes, subgraphs) are few
    # and small: read them.
    streamed = _streamed(graph_model, folder)
    onnx.load_external_data_for_model(graph_model, folder)
    sources = {source for _, source, _, _ in streamed}
    # Beside the file, not over it: its own bytes may be among the sources.
    temporary = os.path.join(folder, f".{os.path.basename(path)}.writing")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        if external_data:
            _append_to_data_file(streamed, data_path)
            graph_model.graph.initializer.extend(t for t, *_ in streamed)
            _write_all(descriptor, graph_model.SerializeToString())
        else:
            _write_self_contained(graph_model, streamed, descriptor)
        os.close(descriptor)
        descriptor = None
        # Not os.replace(): ext4 flushes a file renamed over another to disk
        # (auto_da_alloc), a tenth of a second for 200 MB. Nobody else sees
        # this folder in between.
        os.remove(path)
        os.rename(temporary, path)
    finally:
        if descriptor is not None:
            os.close(descriptor)
            os.remove(temporary)
    for source in sources - {path, data_path if external_data else None}:
        os.remove(source)


def _append_to_data_file(streamed, data_path):
    """Copy into ``data_path`` the bytes of each tensor that lie elsewhere,
    and point the tensor there. Bytes already in it stay where they are."""
    location = os.path.basename(data_path)
    moved = [item for item in streamed if item[1] != data_path]
    if not moved:
        return
    # Not O_APPEND, which copy_file_range() refuses.
    descriptor = os.open(data_path, os.O_WRONLY | os.O_CREAT, 0o666)
    try:
        offset = os.lseek(descriptor, 0, os.SEEK_END)
        for tensor, source, source_offset, length in moved:
            _copy_range(source, source_offset, length, descriptor)
            _refer_to(tensor, location, offset, length)
            offset += length
    finally:
        os.close(descriptor)


def _write_self_contained(graph_model, streamed, descriptor):
    """Write the model with the streamed tensors' bytes inside it: the
    message without them, serialized by protobuf, then each tensor's own
    fields followed by its ``raw_data`` field, its bytes copied from disk.
    Protobuf reads a message's fields in any order."""
    import onnx

    graph_initializer = _field_number(onnx.GraphProto, "initializer")
    raw_data = _field_number(onnx.TensorProto, "raw_data")
    tensors = []
    for tensor, source, offset, length in streamed:
        inline = onnx.TensorProto()
        inline.CopyFrom(tensor)
        inline.ClearField("data_location")
        del inline.external_data[:]
        head = inline.SerializeToString() + _tag(raw_data) + _encode_varint(length)
        tensors.append((head, source, offset, length))
    graph_bytes = graph_model.graph.SerializeToString()
    graph_length = len(graph_bytes) + sum(
        len(_tag(graph_initializer)) + len(_encode_varint(len(head) + length)) + len(head) + length
        for head, _, _, length in tensors)
    model_head = onnx.ModelProto()
    model_head.CopyFrom(graph_model)
    model_head.ClearField("graph")
    _write_all(descriptor, model_head.SerializeToString()
               + _tag(_field_number(onnx.ModelProto, "graph")) + _encode_varint(graph_length)
               + graph_bytes)
    for head, source, offset, length in tensors:
        _write_all(descriptor, _tag(graph_initializer) + _encode_varint(len(head) + length) + head)
        _copy_range(source, offset, length, descriptor)
