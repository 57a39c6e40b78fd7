"""How hidden tests reach a student's code: the Student interface.

Hidden tests never import student code. They ask a Student to run a
function of the student's scratchnn package and get back copies of the
results (see protocol.py): whatever the student's code does to torch, to
numpy or to its own process cannot touch the tests' own tensors or their
verdicts.

    res = student.call('layers.Linear.forward', x, w, b)
    out, cache_ref = res.value             # tensors arrive as copies; a cache
                                           # that is not plain stays remote
    dx, dw, db = student.call('layers.Linear.backward', dout, res.ref[1]).value
    res.args                               # the arguments after the call (to
                                           # see dicts the function updated)
    net = student.call('layers.FullyConnectedNet', [10], input_dim=5).ref
    params = student.getattr(net, 'params')
    student.setattr(net, 'params', params)
    scores = student.call_method(net, 'loss', X).value
    with student.timeout(60):              # a longer limit for the calls inside
        student.call('layers.FullyConnectedNet', [100], input_dim=64)

A target names a student function as 'module.QualName' inside scratchnn.
Failures of student code raise StudentError with a student-facing message.

The real Student is sandbox.SandboxedStudent; the student's side of it, and
LocalStudent (in this process, for developing suites only, never for a real
grade), are in executor.py. This module imports nothing heavy: the grader
starts the sandbox before it imports torch.
"""
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


class StudentError(Exception):
    """Student code raised, crashed, hung, ran out of memory or returned
    something unusable. str(e) is safe to show the student.

    kind: 'exception', 'not_implemented', 'timeout', 'crash', 'memory',
    'bad_output', 'import' or 'rule' (the code used something the course
    forbids, found at run time: the harness zeroes the item).
    """

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


class RuleViolation(Exception):
    """Raised inside the student's process when its code uses something
    forbidden (lockdown.py); becomes StudentError('rule')."""


@dataclass(frozen=True)
class Ref:
    """A value that stays in the student's process; index it to name a part."""
    id: int
    path: tuple = field(default=())

    def __getitem__(self, key):
        return Ref(self.id, self.path + (key,))

    def encode(self):
        return {'__ref__': self.id, '__path__': list(self.path)}


def to_wire(obj):
    """Grader-side values with Refs turned into protocol references."""
    if isinstance(obj, Ref):
        return obj.encode()
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_wire(v) for v in obj)
    if isinstance(obj, dict):
        return {k: to_wire(v) for k, v in obj.items()}
    return obj


def from_wire(obj):
    """Protocol references turned into Refs."""
    if isinstance(obj, dict):
        if '__ref__' in obj:
            return Ref(obj['__ref__'], tuple(obj['__path__']))
        return {k: from_wire(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(from_wire(v) for v in obj)
    return obj


@dataclass
class Result:
    value: object       # the return value; non-plain parts are Refs
    args: tuple         # the positional arguments after the call
    kwargs: dict        # the keyword arguments after the call
    ref: Ref            # the whole return value, kept in the student's process


class Student:
    """Interface; see the module docstring.

    Every request may carry a wall-clock limit in seconds under 'timeout'
    (None: the implementation's default); the child ignores the key.
    """

    call_timeout = None  # seconds for call/call_method/getattr/setattr; None: default

    def request(self, message: dict) -> dict:
        """Send one request dict, return the reply dict (raises StudentError)."""
        raise NotImplementedError

    @contextlib.contextmanager
    def timeout(self, seconds: float | None) -> Iterator['Student']:
        """Within the block, every call may run up to `seconds` of wall-clock time."""
        saved, self.call_timeout = self.call_timeout, seconds
        try:
            yield self
        finally:
            self.call_timeout = saved

    def begin_test(self, name: str, item: str | None = None) -> None:
        """Called by the harness before each test of `item` (the sandbox reseeds
        from name and keeps each item's time budget)."""

    def call(self, target: str, *args, **kwargs) -> Result:
        reply = self.request({'op': 'call', 'target': target, 'timeout': self.call_timeout,
                              'args': to_wire(args), 'kwargs': to_wire(kwargs)})
        return Result(from_wire(reply['value']), tuple(from_wire(reply['args'])),
                      from_wire(reply['kwargs']), Ref(reply['ref']))

    def call_method(self, obj: Ref, name: str, *args, **kwargs) -> Result:
        reply = self.request({'op': 'call_method', 'obj': to_wire(obj), 'name': name,
                              'timeout': self.call_timeout, 'args': to_wire(args), 'kwargs': to_wire(kwargs)})
        return Result(from_wire(reply['value']), tuple(from_wire(reply['args'])),
                      from_wire(reply['kwargs']), Ref(reply['ref']))

    def getattr(self, obj: Ref, name: str) -> Any:
        return from_wire(self.request({'op': 'getattr', 'obj': to_wire(obj), 'name': name,
                                       'timeout': self.call_timeout})['value'])

    def setattr(self, obj: Ref, name: str, value: Any) -> None:
        self.request({'op': 'setattr', 'obj': to_wire(obj), 'name': name, 'value': to_wire(value),
                      'timeout': self.call_timeout})

    def close(self) -> None:
        pass
