"""What crosses between the grader and the process that runs student code.

Messages are dicts serialized with torch.save and read back with
torch.load(weights_only=True): tensors, numbers, strings, None, and lists,
tuples and dicts of those, never arbitrary pickles, so a hostile child
cannot run code in the grader by what it sends.

Anything else a student function returns (a cache of a custom class, a net
object) stays in the child's store and crosses as a reference,
{'__ref__': id, '__path__': [...]}; the grader passes it back as an
argument and the child swaps the stored object in.

This module is imported by the grader and copied into the sandbox, so it
depends on nothing but torch.
"""
import io
import struct

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
    if isinstance(obj, PLAIN):
        return obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(encode(v, store, next_id) for v in obj)
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


def dumps(message):
    buf = io.BytesIO()
    torch.save(message, buf)
    return buf.getvalue()


def loads(data):
    return torch.load(io.BytesIO(data), weights_only=True, map_location=None)


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
