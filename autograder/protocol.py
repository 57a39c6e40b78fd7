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
