"""Forward and backward passes graded from a table: a spec per layer (its
targets, tensor inputs, oracle and items) and cases (inputs and options),
fed to the generic checks below. A suite module lists its layers' cases and
points in a `Passes` table, imports the six pass tests defined here
(test_forward_values ... test_backward_dtype_and_device) and lets the table
parametrize them:

    from autograder.suites.passes import (  # noqa: F401 (the pass tests)
        test_backward_dtype_and_device, test_backward_gradients, ...)
    PASSES = Passes(forward=..., backward=..., forward_points=..., backward_points=...)
    ITEMS = {**PASSES.items(), ...}
    def pytest_generate_tests(metafunc):
        PASSES.parametrize(metafunc)

What each check grants (a mistake costs its own item once):
- a forward pass earns its points when its output is the oracle's, or, for
  a layer the contract builds from other layers (Linear_ReLU,
  SpatialBatchNorm), the same layers of the student's own composed as the
  contract says (a wrong Linear costs linear_forward, not Linear_ReLU too);
- a backward pass earns its points when its gradients are the true layer's,
  or, where the student's forward is not the true one, exact for that
  forward (central differences in float64, checks.own_forward_errors), or
  the composition of the student's own backward passes. When none holds and
  the forward is wrong, the failure names the forward item as its cause.
- side conditions (inputs and dout unchanged, dtype, device and shape)
  count once the output is right; a composed layer breaks one only where its
  own code does: where the student's own parts, composed, break it the same
  way, the parts' items pay for it, not the composed one.
"""
import functools
import zlib
from dataclasses import dataclass, field
from typing import Callable, Optional

import pytest
import torch

from autograder.rubric import Graded
from autograder.isolation.student import StudentError
from autograder.suites import oracles as O
from autograder.suites.checks import (F32_TOL, F64, FD_TOL, GRAD_TOL, NOTES, VALUE_TOL, Failure,
                                      Reference, backward, expect_close, expect_match,
                                      expect_tensor, expect_unchanged, forward, is_close,
                                      mismatch, own_forward_errors)


@dataclass
class Composed:
    """What a composition of the student's own parts did (Layer.by_parts):
    its output, its gradients (None without dout) and, as the calls left
    them, its tensor inputs ({name: tensor}) and dout (None without dout)."""
    out: object
    grads: Optional[dict] = None
    inputs: Optional[dict] = None
    dout: Optional[torch.Tensor] = None


@dataclass(frozen=True)
class Layer:
    """A layer of the contract: `forward(*tensors, *extra) -> (out, cache)`,
    `backward(dout, cache) -> gradients of the tensors`."""
    name: str                        # 'BatchNorm', as in messages: 'BatchNorm.forward'
    module: str                      # the student module: 'normalization'
    forward_item: str
    backward_item: str
    inputs: tuple                    # the tensor inputs, in call order: ('x', 'gamma', 'beta')
    oracle: Callable                 # oracle(*tensors, **case.oracle_options) -> out
    extra: Callable = lambda options: ()    # the arguments after the tensors (a fresh bn_param...)
    backward_method: str = 'backward'
    # The contract's compositions of the student's own parts:
    # by_parts(student, tensors, options, dout) -> [(label, thunk)], thunk() -> Composed
    # (its gradients None when dout is None).
    by_parts: Optional[Callable] = None

    @property
    def forward_target(self):
        return f'{self.module}.{self.name}.forward'

    @property
    def backward_target(self):
        return f'{self.module}.{self.name}.{self.backward_method}'

    def call_forward(self, student, tensors, options):
        return forward(student, self.forward_target,
                       *[tensors[n] for n in self.inputs], *self.extra(options))

    def call_backward(self, student, dout, cache):
        """({'dx': ..., 'dw': ...}, Result): the gradient of each tensor input."""
        return backward(student, self.backward_target, dout, cache, self.grad_names)

    @property
    def grad_names(self):
        return tuple(f'd{n}' for n in self.inputs)


@dataclass(frozen=True)
class Case:
    """Inputs of one check: `tensors()` -> {name: float64 tensor} (fresh each call)."""
    id: str                          # for test ids: '4d-input'
    what: str                        # for messages: 'x of shape (2, 3, 4, 5)'
    tensors: Callable
    options: dict = field(default_factory=dict)   # eps, mode, G... (see Layer.extra)
    numeric: bool = True             # may the gradient follow central differences? (not at kinks)

    @property
    def oracle_options(self):
        return {k: v for k, v in self.options.items() if k in ('eps', 'G')}


def forward_params(pairs, points):
    """pytest params for (layer, case) pairs of forward checks, marked with the
    layer's forward item and its points ({item: points}), with ids 'Layer-case'."""
    return [pytest.param(layer, case, id=f'{layer.name}-{case.id}',
                         marks=pytest.mark.item(layer.forward_item, points=points[layer.forward_item]))
            for layer, case in pairs]


def backward_params(pairs, points):
    """pytest params for (layer, case) pairs of backward checks, marked with the
    layer's backward item and its points ({item: points}), with ids 'Layer.method-case'."""
    return [pytest.param(layer, case, id=f'{layer.name}.{layer.backward_method}-{case.id}',
                         marks=pytest.mark.item(layer.backward_item,
                                                points=points[layer.backward_item]))
            for layer, case in pairs]


def _seed(case):
    return zlib.crc32(case.id.encode()) % 100_000


def _dout(out_shape, case):
    """The upstream gradient of a case; non-contiguous when the case says so."""
    dout = O.randn(*out_shape, seed=_seed(case) + 7)
    return O.non_contiguous(dout) if case.options.get('non_contiguous_dout') else dout


def _compositions(student, layer, tensors, options, dout):
    """[(label, thunk)] of the layer's compositions of the student's own parts,
    each computed at most once, and only when asked for."""
    if layer.by_parts is None:
        return []
    return [(label, functools.cache(thunk))
            for label, thunk in layer.by_parts(student, tensors, options, dout)]


def _described(layer, case, method='forward'):
    return f"{layer.name}.{method} for {case.what}"


# ---------------------------------------------------------------- the checks

def check_forward(student, layer, case):
    """The output is the oracle's, or the composition of the student's own parts."""
    tensors = case.tensors()
    out, _, _ = layer.call_forward(student, tensors, case.options)
    references = [Reference('the true layer',
                            lambda: {'out': layer.oracle(*tensors.values(), **case.oracle_options)},
                            VALUE_TOL)]
    for label, parts in _compositions(student, layer, tensors, case.options, None):
        references.append(Reference(label, lambda parts=parts: {'out': parts().out}, VALUE_TOL))
    expect_match(_described(layer, case), {'out': out}, references)


def check_backward(student, layer, case):
    """The gradients are the true layer's, or exact for the student's own
    forward, or the composition of the student's own backward passes."""
    tensors = case.tensors()
    out, cache, _ = layer.call_forward(student, tensors, case.options)
    expect_tensor(out, f"{_described(layer, case)}: out")
    dout = _dout(out.shape, case)
    grads, _ = layer.call_backward(student, dout, cache)
    want_out, want = O.autograd(lambda *ts: layer.oracle(*ts, **case.oracle_options),
                                list(tensors.values()), dout)
    forward_ok = isinstance(out, torch.Tensor) and out.shape == want_out.shape and is_close(
        out, want_out, VALUE_TOL)
    references = [Reference('the true layer', lambda: dict(zip(layer.grad_names, want)), GRAD_TOL)]
    if case.numeric and not forward_ok:
        # Only a forward pass that is not the true one needs its own numeric
        # gradient: where it is the true layer, the true gradients are its own.
        def own():
            errors = own_forward_errors(
                lambda ins: layer.call_forward(student, dict(zip(tensors, ins)), case.options)[0],
                tensors, {n: grads[f'd{n}'] for n in tensors}, dout, seed=_seed(case),
                what=f"your {layer.name}.forward")
            return {f'd{n}': e for n, e in errors.items()}
        references.append(Reference('a numeric gradient of your own forward pass', own, FD_TOL,
                                    errors=True))
    for label, parts in _compositions(student, layer, tensors, case.options, dout):
        references.append(Reference(label, lambda parts=parts: parts().grads, GRAD_TOL))
    caused_by, note, because = None, '', ''
    if not forward_ok and layer.forward_item != layer.backward_item:
        caused_by = layer.forward_item
        note = (f"; your {layer.name}.forward is wrong too (see {layer.forward_item}): "
                "fix it first, then this backward pass can be checked on its own")
        because = f"your {layer.name}.forward is wrong (see {layer.forward_item})"
    expect_match(_described(layer, case, layer.backward_method), grads, references, caused_by, note,
                 because)


# Side conditions count once the output is right: a function that returns
# garbage earns nothing for leaving its inputs alone or for its dtype. A
# composed layer that breaks one exactly as the student's own parts composed
# do is charged nothing: the part that breaks it pays on its own item.

def same_tensors(a, b):
    """Whether two {name: tensor} agree: the same names, shapes, dtypes and
    devices, and values to float32 round-off (the same operations, reshaped
    in another process, may sum in another order)."""
    def same(x, y):
        return (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)
                and x.shape == y.shape and x.dtype == y.dtype and x.device.type == y.device.type
                and (x.device.type == 'meta' or not mismatch(x, y, F32_TOL)))
    return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(
        same(a[k], b[k]) for k in a)


def unchanged(after, before):
    """Whether every tensor of {name: tensor} `after` equals its `before` exactly."""
    return all(isinstance(after[k], torch.Tensor) and after[k].shape == before[k].shape
               and torch.equal(after[k].to('cpu'), before[k].to('cpu')) for k in before)


def like_own_parts(student, layer, tensors, options, dout, observe, observed, what):
    """For a composed layer whose result breaks a side condition: whether a
    composition of the student's own parts, run on the same inputs, leaves
    exactly the same `observe(Composed)` ({name: tensor}) as the layer left
    (`observed`). If so, notes that the parts are to blame and returns True."""
    for label, parts in _compositions(student, layer, tensors, options, dout):
        try:
            if same_tensors(observe(parts()), observed):
                NOTES.append(f"{what}: as {label} do, so it is charged to those parts' "
                             "own items, not here")
                return True
        except (StudentError, Failure, RuntimeError, TypeError, AttributeError, KeyError):
            continue   # the parts fail on their own: no composition to compare with
    return False


def check_forward_leaves_inputs(student, layer, case):
    """The forward pass (right on this case) leaves its tensor inputs unchanged."""
    check_forward(student, layer, case)
    tensors = case.tensors()
    _, _, res = layer.call_forward(student, tensors, case.options)
    after = dict(zip(tensors, res.args))
    if unchanged(after, tensors) or like_own_parts(
            student, layer, case.tensors(), case.options, None, lambda run: run.inputs, after,
            f"{layer.name}.forward modifies its inputs"):
        return
    for name, before in tensors.items():
        expect_unchanged(after[name], before, f"{layer.name}.forward: {name}")


def check_backward_leaves_dout(student, layer, case):
    """The backward pass (right on this case) leaves dout unchanged."""
    check_backward(student, layer, case)
    tensors = case.tensors()
    out, cache, _ = layer.call_forward(student, tensors, case.options)
    dout = _dout(out.shape, case)
    _, res = layer.call_backward(student, dout, cache)
    after = {'dout': res.args[0]}
    if unchanged(after, {'dout': dout}) or like_own_parts(
            student, layer, case.tensors(), case.options, dout, lambda run: {'dout': run.dout},
            after, f"{layer.name}.{layer.backward_method} modifies dout"):
        return
    expect_unchanged(res.args[0], dout, f"{layer.name}.{layer.backward_method}: dout")


def dtype_device_cases():
    """(device, dtype) pairs every layer is checked on besides float64 CPU."""
    return [('cpu', torch.float32)] + [(d, F64) for d in O.extra_devices()]


def _on(tensors, device, dtype):
    return {k: v.to(device=device, dtype=dtype) for k, v in tensors.items()}


def check_forward_dtype_device(student, layer, case):
    """out (right in float64) keeps the dtype and the device of the inputs, and
    in float32 agrees with the student's own float64 result."""
    check_forward(student, layer, case)
    out64, _, _ = layer.call_forward(student, case.tensors(), case.options)
    for device, dtype in dtype_device_cases():
        tensors = _on(case.tensors(), device, dtype)
        out, _, _ = layer.call_forward(student, tensors, case.options)
        what = f"{layer.name}.forward: out for {dtype} inputs on {device}"
        try:
            expect_tensor(out, what, shape=out64.shape, dtype=dtype, device=device)
            if device == 'cpu':
                expect_close(out, out64, f"{what}, against your float64 result", tol=F32_TOL)
        except Failure:
            if not like_own_parts(student, layer, tensors, case.options, None,
                                  lambda run: {'out': run.out}, {'out': out}, what):
                raise


def check_backward_dtype_device(student, layer, case):
    """Every gradient (right in float64) keeps the dtype, device and shape of its
    input, and in float32 agrees with the student's own float64 gradient."""
    check_backward(student, layer, case)
    out, cache, _ = layer.call_forward(student, case.tensors(), case.options)
    dout = _dout(out.shape, case)
    grads64, _ = layer.call_backward(student, dout, cache)
    for device, dtype in dtype_device_cases():
        tensors = _on(case.tensors(), device, dtype)
        out, cache, _ = layer.call_forward(student, tensors, case.options)
        expect_tensor(out, f"{layer.name}.forward: out for {dtype} inputs on {device}",
                      dtype=dtype, device=device)
        grads, _ = layer.call_backward(student, dout.to(device=device, dtype=dtype), cache)
        try:
            for name, g in zip(layer.inputs, grads.values()):
                what = f"{layer.name}.{layer.backward_method}: d{name} for {dtype} inputs on {device}"
                expect_tensor(g, what, shape=tensors[name].shape, dtype=dtype, device=device)
                if device == 'cpu':
                    expect_close(g, grads64[f'd{name}'], f"{what}, against your float64 result",
                                 tol=F32_TOL)
        except Failure:
            if not like_own_parts(student, layer, tensors, case.options,
                                  dout.to(device=device, dtype=dtype), lambda run: run.grads,
                                  grads, f"{layer.name}.{layer.backward_method}: the gradients "
                                         f"for {dtype} inputs on {device}"):
                raise


# ---------------------------------------------------------------- the pass tests

def _variant(pairs, name):
    return [(layer, case) for layer, case in pairs if name in case.id]


def _first(pairs):
    firsts = {}
    for layer, case in pairs:
        firsts.setdefault(layer, case)
    return list(firsts.items())


@dataclass(frozen=True)
class Passes:
    """The pass tests of a suite module: the (layer, case) pairs they check and
    each item's points, (values or gradients, dtype and device, inputs or dout
    unchanged). Every case is checked for values and gradients; the cases whose
    id says 'non-contiguous-x' / 'non-contiguous-dout' for the side conditions;
    each layer's first case on the other dtypes and devices."""
    forward: list                    # [(layer, case)]
    backward: list
    forward_points: dict             # item: (values, dtype and device, inputs unchanged)
    backward_points: dict            # item: (gradients, dtype and device, dout unchanged)

    def params(self, test_name):
        """The pytest params of one of the six pass tests."""
        pairs, points, which, build = {
            'test_forward_values': (self.forward, self.forward_points, 0, forward_params),
            'test_forward_dtype_and_device': (_first(self.forward), self.forward_points, 1,
                                              forward_params),
            'test_forward_leaves_inputs_unchanged': (_variant(self.forward, 'non-contiguous-x'),
                                                     self.forward_points, 2, forward_params),
            'test_backward_gradients': (self.backward, self.backward_points, 0, backward_params),
            'test_backward_dtype_and_device': (_first(self.backward), self.backward_points, 1,
                                               backward_params),
            'test_backward_leaves_dout_unchanged': (_variant(self.backward, 'non-contiguous-dout'),
                                                    self.backward_points, 2, backward_params),
        }[test_name]
        return build(pairs, {item: p[which] for item, p in points.items()})

    def parametrize(self, metafunc):
        """pytest_generate_tests of a suite module: parametrize its pass tests."""
        if metafunc.function in PASS_TESTS:
            metafunc.parametrize('layer, case', self.params(metafunc.function.__name__))

    def items(self):
        """{item: Graded} of the layers' forward and backward passes."""
        functions = {}
        for pairs, target, item in ((self.forward, 'forward_target', 'forward_item'),
                                    (self.backward, 'backward_target', 'backward_item')):
            for layer, _ in pairs:
                found = functions.setdefault(getattr(layer, item), [])
                if getattr(layer, target) not in found:
                    found.append(getattr(layer, target))
        return {item: Graded(tuple(targets)) for item, targets in functions.items()}


def test_forward_values(student, layer, case):
    check_forward(student, layer, case)


def test_backward_gradients(student, layer, case):
    check_backward(student, layer, case)


def test_forward_leaves_inputs_unchanged(student, layer, case):
    check_forward_leaves_inputs(student, layer, case)


def test_backward_leaves_dout_unchanged(student, layer, case):
    check_backward_leaves_dout(student, layer, case)


def test_forward_dtype_and_device(student, layer, case):
    check_forward_dtype_device(student, layer, case)


def test_backward_dtype_and_device(student, layer, case):
    check_backward_dtype_device(student, layer, case)


PASS_TESTS = (test_forward_values, test_backward_gradients, test_forward_leaves_inputs_unchanged,
              test_backward_leaves_dout_unchanged, test_forward_dtype_and_device,
              test_backward_dtype_and_device)
