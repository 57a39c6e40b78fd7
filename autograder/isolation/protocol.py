"""What crosses between the grader and the process that runs student code.

Messages are dicts of tensors, numbers, strings, None, torch dtypes,
devices and sizes, and lists, tuples and dicts of those. On the wire
(dumps/loads): a table of the tensors (dtype, shape, order of the dims in
memory, device, raw bytes) and a pickle of the rest in which each tensor is
a persistent id into that table. Both are read with an
Unpickler that refuses every global (find_class), so no pickle can name a
function or class, let alone run code in the grader: only the pickle
opcodes for plain containers and scalars work. This is several times faster
than torch.save/torch.load, which matters at thousands of calls per
submission. A tensor crosses as a copy of its values: views of one storage
arrive as separate tensors (identical objects stay one), expanded views
arrive at their full size (bounded by the message size), a tensor of a
subclass or a sparse, quantized or nested layout is refused. The sender
never chooses strides or a storage offset: a tensor is built from exactly
the bytes its shape and dtype take, in the order of its dims in memory (so
a transposed tensor stays transposed), each entry checked and the bytes of
all counted before any tensor is allocated (loads).

Anything else a student function returns (a cache of a custom class, a net
object) stays in the child's store and crosses as a reference,
{'__ref__': id, '__path__': [...]}; the grader passes it back as an
argument and the child swaps the stored object in.

This module is imported by the grader and copied into the sandbox, so it
depends on nothing but torch (and numpy, which torch brings).
"""
import io
import math
import pickle
import re
import struct

import numpy
import torch

PLAIN = (torch.Tensor, int, float, bool, str, type(None))
HEADER = struct.Struct('<Q')


def is_plain(obj):
    """True if obj is made only of tensors, scalars, strings and containers of them."""
    if isinstance(obj, PLAIN):
        return True
    if isinstance(obj, (list, tuple)):
        return all(is_plain(v) for v in obj)
    if isinstance(obj, dict):
        return all(isinstance(k, (str, int)) and is_plain(v) for k, v in obj.items())
    return False


def encode(obj, store, next_id):
    """obj with every non-plain part replaced by a reference into store.

    store: dict id -> object, filled in place; next_id: callable giving fresh ids.
    """
    if isinstance(obj, PLAIN) or type(obj) is torch.Size:
        return obj
    # A namedtuple or list subclass crosses as a plain tuple or list (its
    # class stays behind with the original, which a reference still names).
    if isinstance(obj, tuple):
        return tuple(encode(v, store, next_id) for v in obj)
    if isinstance(obj, list):
        return [encode(v, store, next_id) for v in obj]
    if isinstance(obj, dict) and all(isinstance(k, (str, int)) for k in obj):
        return {k: encode(v, store, next_id) for k, v in obj.items()}
    ref_id = next_id()
    store[ref_id] = obj
    return {'__ref__': ref_id, '__path__': []}


def resolve(obj, store):
    """obj with every reference replaced by the stored object it names."""
    if isinstance(obj, dict):
        if '__ref__' in obj:
            target = store[obj['__ref__']]
            for key in obj['__path__']:
                target = target[key]
            return target
        return {k: resolve(v, store) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(resolve(v, store) for v in obj)
    return obj


def ref_ids(message):
    """The ids of every reference inside a wire message."""
    if isinstance(message, dict):
        if '__ref__' in message:
            return {message['__ref__']}
        return set().union(*map(ref_ids, message.values())) if message else set()
    if isinstance(message, (list, tuple)):
        return set().union(*map(ref_ids, message)) if message else set()
    return set()


class TooLarge(ValueError):
    """A message that would be too large once its tensors or containers are used."""


def bound(message, *, max_tensor_bytes, max_nodes, max_depth):
    """message, checked and with repeated identical tensor views made one object.

    A reply read with loads is small in memory (tensors share the storages
    the bytes hold), but using it can inflate it: an expanded view of a tiny
    storage, or one tensor referenced many times, becomes huge once cloned
    or compared; nested containers sharing one list make every walk over
    them explode. So every tensor counts at its full size (numel x element
    size, views and expands included), identical views count once (and
    become one object: no copy), and the containers walked (shared ones
    again at each reference) and their depth are bounded. Raises TooLarge.
    Iterative: deep nesting cannot overflow the stack here.
    """
    seen_views, total, nodes = {}, 0, 0
    root = [message]
    stack = [(root, 0, 0)]      # (container, key, depth) of each value to look at
    while stack:
        parent, key, depth = stack.pop()
        obj = parent[key]
        nodes += 1
        if nodes > max_nodes:
            raise TooLarge(f"more than {max_nodes} values")
        if depth > max_depth:
            raise TooLarge(f"containers nested more than {max_depth} deep")
        if isinstance(obj, torch.Tensor):
            view = (obj.untyped_storage().data_ptr(), obj.storage_offset(), tuple(obj.shape),
                    obj.stride(), obj.dtype, obj.device.type)
            if view in seen_views:
                if isinstance(parent, tuple):
                    continue   # a tuple cannot be updated in place; counted once anyway
                parent[key] = seen_views[view]
                continue
            seen_views[view] = obj
            total += obj.numel() * obj.element_size()
            if total > max_tensor_bytes:
                raise TooLarge(f"tensors of more than {max_tensor_bytes} bytes in all "
                               f"(counted at their full size)")
        elif isinstance(obj, dict):
            stack.extend((obj, k, depth + 1) for k in obj)
        elif isinstance(obj, (list, tuple)):
            stack.extend((obj, i, depth + 1) for i in range(len(obj)))
    return root[0]


TABLE = struct.Struct('<Q')     # the length of the tensor table's pickle
MAX_TENSOR_BYTES = 64 << 20     # tensor bytes one message may carry (counted before copying)
DTYPES = {str(d): d for d in (torch.float16, torch.bfloat16, torch.float32, torch.float64,
                              torch.complex64, torch.complex128, torch.uint8, torch.int8,
                              torch.int16, torch.int32, torch.int64, torch.bool)}


class _Pickler(pickle.Pickler):
    """Pickles plain data; tensors go to self.table, one entry per distinct object."""

    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.table, self._index, self._bytes = [], {}, 0

    def persistent_id(self, obj):
        if type(obj) in _EXACT:
            return None
        if isinstance(obj, _SCALARS):    # numpy scalars, IntEnum, float subclasses
            return ('value', _plain_scalar(obj))
        if isinstance(obj, torch.dtype):
            return ('dtype', str(obj))
        if isinstance(obj, torch.device):
            return ('device', str(obj))
        if type(obj) is torch.Size:      # x.shape in a cache
            return ('size', ','.join(map(str, obj)))
        if not isinstance(obj, torch.Tensor):
            return None
        if id(obj) not in self._index:
            self._bytes += obj.numel() * obj.element_size()   # full size, before any copy
            if self._bytes > MAX_TENSOR_BYTES:
                raise TooLarge(f"tensors of more than {MAX_TENSOR_BYTES} bytes in all "
                               f"(counted at their full size)")
            self._index[id(obj)] = len(self.table)
            self.table.append(_tensor_entry(obj))
        return self._index[id(obj)]


_EXACT = {int, float, bool, str, bytes, type(None), list, tuple, dict}
_SCALARS = (int, float, str, numpy.generic)


def _plain_scalar(obj):
    """obj as a built-in int, float, bool or str (never a subclass, which would pickle by name)."""
    if isinstance(obj, numpy.generic):
        obj = obj.item()
    for kind in (bool, int, float, str):
        if isinstance(obj, kind):
            return kind(obj)
    raise TypeError(f"{type(obj).__name__} is not plain data")


def _tensor_entry(t):
    """(dtype, shape, dim order or None, device, bytes) of a plain tensor; see _tensor."""
    if type(t) is not torch.Tensor or t.layout != torch.strided or t.is_quantized or t.is_nested:
        raise TypeError(f"a {type(t).__name__} of layout {t.layout} is not a plain tensor")
    if str(t.dtype) not in DTYPES:
        raise TypeError(f"tensors of dtype {t.dtype} are not supported")
    order = _memory_order(t)
    if t.device.type == 'meta':
        data = b''
    else:
        in_memory = t.detach().permute(order or tuple(range(t.dim()))).to('cpu').contiguous()
        flat = in_memory.reshape(-1)
        data = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b''
    return (str(t.dtype), tuple(t.shape), order, str(t.device), data)


def _memory_order(t):
    """The order of t's dims in memory, outermost first, if t is dense (its
    elements fill a block exactly once) and not in the usual order; else None
    (it crosses contiguous). A transposed input stays transposed across the
    wire, and its layout is never more than a permutation of its dims."""
    order = tuple(sorted(range(t.dim()), key=lambda d: -t.stride(d)))
    if order == tuple(range(t.dim())) or not t.permute(order).is_contiguous():
        return None
    return order


MAX_DIMS = 64                   # torch's own limit
DEVICE = re.compile(r'(cpu|meta|cuda(:[0-9]{1,2})?)')


class BadTensor(pickle.UnpicklingError):
    """A tensor entry that is not exactly what _tensor_entry writes."""


def _checked_entry(entry):
    """entry's (dtype, shape, order, device, data), checked before anything is
    allocated: known dtype and device, at most MAX_DIMS dims, order None or a
    permutation of the dims, and exactly shape's bytes of data (none for meta).
    Raises BadTensor."""
    if type(entry) is not tuple or len(entry) != 5:
        raise BadTensor("bad tensor entry")
    dtype_name, shape, order, device, data = entry
    if type(dtype_name) is not str or dtype_name not in DTYPES:
        raise BadTensor("a tensor of an unknown dtype")
    if type(shape) is not tuple or len(shape) > MAX_DIMS or \
            not all(type(n) is int and 0 <= n <= MAX_TENSOR_BYTES for n in shape):
        raise BadTensor("a tensor of a bad shape")
    if order is not None and (type(order) is not tuple or not all(type(d) is int for d in order)
                              or sorted(order) != list(range(len(shape)))):
        raise BadTensor("a tensor of a bad layout")
    if type(device) is not str or not DEVICE.fullmatch(device):
        raise BadTensor("a tensor on an unknown device")
    expected = 0 if device == 'meta' else _size(entry)
    if type(data) is not bytes or len(data) != expected:
        raise BadTensor(f"a tensor whose data is not its {expected} bytes")
    return entry


def _size(entry):
    """The bytes of a checked entry's tensor at its full size (meta included)."""
    dtype_name, shape = entry[:2]
    return math.prod(shape) * DTYPES[dtype_name].itemsize


def _tensor(entry):
    """The tensor of a checked entry: its own storage, of exactly its bytes;
    the layout is a permutation of the dims, never strides from the wire."""
    dtype_name, shape, order, device, data = entry
    dtype = DTYPES[dtype_name]
    order = order or tuple(range(len(shape)))
    in_memory = [shape[d] for d in order]
    if device == 'meta':
        values = torch.empty(in_memory, dtype=dtype, device='meta')
    elif data:
        values = torch.frombuffer(bytearray(data), dtype=torch.uint8).view(dtype).reshape(in_memory)
    else:
        values = torch.empty(in_memory, dtype=dtype)
    values = values.permute(sorted(range(len(order)), key=order.__getitem__))
    return values.to(device) if device not in ('cpu', 'meta') else values


class _Unpickler(pickle.Unpickler):
    """Reads only plain data: no global is ever looked up; tensors come from the table."""

    def __init__(self, file, table):
        super().__init__(file)
        self.table = table

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"{module}.{name} is not plain data")

    def persistent_load(self, pid):
        if type(pid) is tuple and len(pid) == 2 and type(pid[1]) in (bool, int, float, str):
            kind, value = pid
            if kind == 'value':
                return value
            if kind == 'dtype' and value in DTYPES:
                return DTYPES[value]
            if kind == 'device' and type(value) is str and DEVICE.fullmatch(value):
                return torch.device(value)
            if kind == 'size' and type(value) is str:
                return torch.Size(int(v) for v in value.split(',') if v)
        if type(pid) is not int or not 0 <= pid < len(self.table):
            raise pickle.UnpicklingError("bad tensor reference")
        return self.table[pid]


def dumps(message):
    payload = io.BytesIO()
    pickler = _Pickler(payload)
    pickler.dump(message)
    table = pickle.dumps(pickler.table, protocol=pickle.HIGHEST_PROTOCOL)
    return TABLE.pack(len(table)) + table + payload.getvalue()


def loads(data):
    """The message in data (from dumps); raises on anything that is not plain
    data. Every tensor entry is checked, and the tensors' bytes at full size
    counted against MAX_TENSOR_BYTES, before any tensor is made."""
    (size,) = TABLE.unpack_from(data)
    start = TABLE.size
    entries = _Unpickler(io.BytesIO(data[start:start + size]), []).load()
    if type(entries) is not list:
        raise pickle.UnpicklingError("bad tensor table")
    entries = [_checked_entry(entry) for entry in entries]
    if sum(map(_size, entries)) > MAX_TENSOR_BYTES:
        raise TooLarge(f"tensors of more than {MAX_TENSOR_BYTES} bytes in all")
    table = [_tensor(entry) for entry in entries]
    return _Unpickler(io.BytesIO(data[start + size:]), table).load()


def write_message(stream, message):
    """Write one length-prefixed message to a binary stream."""
    data = dumps(message)
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def read_exactly(stream, n):
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b''.join(chunks)


def read_message(stream, max_bytes=1 << 30):
    """Read one length-prefixed message; refuses one larger than max_bytes."""
    (size,) = HEADER.unpack(read_exactly(stream, HEADER.size))
    if size > max_bytes:
        raise ValueError(f"message of {size} bytes exceeds the limit of {max_bytes}")
    return loads(read_exactly(stream, size))
