"""Generic checks of the hidden suites: each turns a comparison with a trusted
reference (oracles.py) into a verdict and a message for the student.

Messages say which output is wrong and by how much ("relative error 3.1e-01,
allowed 1e-09"), never the expected tensor or the test's source. A check
that fails because another item's code is wrong raises Failure with
`caused_by` naming that item; the harness puts it in results.json.

Tolerances come from float64 round-off: correct code lands near 1e-15 and a
real mistake near 1e-3 or above, so both sides of each tolerance keep
orders of magnitude of margin.
"""
import math
import os
import random
from dataclasses import dataclass
from typing import Callable

import torch

from autograder.isolation.student import Ref, StudentError

F64 = torch.float64
VALUE_TOL = 1e-9    # float64 outputs against the float64 oracle
GRAD_TOL = 1e-8     # float64 gradients against autograd of the oracle
FD_TOL = 1e-6       # gradients against central differences of the student's own forward
F32_TOL = 1e-5      # float32 outputs against the float64 oracle
ATOL = 1e-12        # outputs that are zero in exact arithmetic: round-off on both sides
REPEAT_TOL = 1e-12  # one input, two forward calls: a function of its inputs agrees with itself
ROUNDOFF = 1e-13    # relative round-off allowed in one evaluation of a loss (float64: ~1e-16)


# Notes of the current test: what passed on the student's own code rather than
# on the true function ("right for your own forward pass; ..."). The suites'
# conftest hands them to the harness, which shows them with the passed test.
NOTES = []


class Failure(AssertionError):
    """A failed check: str() is the student's message; caused_by, when set, is
    the rubric item whose mistake made this check fail."""

    def __init__(self, message, caused_by=None):
        super().__init__(message)
        self.caused_by = caused_by


def check(condition, message, caused_by=None):
    """Fail the test with exactly `message` (plain raise: no assertion
    introspection that could show the test's source or expected values)."""
    if not condition:
        raise Failure(message, caused_by)


def fmt_shape(t):
    return str(tuple(t.shape))


# ---------------------------------------------------------------- tensors

def rel_error(got, want):
    """||got - want|| / (||got|| + ||want||), in float64 on the CPU."""
    got, want = got.detach().to('cpu', F64), want.detach().to('cpu', F64)
    return ((got - want).norm() / (got.norm() + want.norm()).clamp_min(1e-300)).item()


def is_close(got, want, tol=VALUE_TOL, atol=ATOL):
    """Same shape and ||got - want|| <= tol * (||got|| + ||want||) + atol (finite)."""
    return tuple(got.shape) == tuple(want.shape) and not mismatch(got, want, tol, atol)


def expect_tensor(got, what, shape=None, dtype=None, device=None):
    """Check that `got` is a tensor with the given shape, dtype and device type."""
    check(isinstance(got, torch.Tensor),
          f"{what} must be a torch.Tensor, got {type(got).__name__}")
    if shape is not None:
        check(tuple(got.shape) == tuple(shape),
              f"{what} has shape {fmt_shape(got)}, expected {tuple(shape)}")
    if dtype is not None:
        check(got.dtype == dtype, f"{what} has dtype {got.dtype}, expected {dtype} "
                                  "(outputs keep the dtype of the inputs)")
    if device is not None:
        check(got.device.type == torch.device(device).type,
              f"{what} is on device {got.device}, expected {device} "
              "(outputs stay on the device of the inputs)")


def mismatch(got, want, tol, atol=ATOL):
    """Why got is not close to want ('' when it is): 'relative error 3.1e-01 (allowed 1e-09)'.

    NaN and inf match only themselves, where want has them too (a reference
    computed from the student's own parts may hold them); the finite rest is
    compared by relative error.
    """
    got64, want64 = got.detach().to('cpu', F64), want.detach().to('cpu', F64)
    finite = torch.isfinite(got64)
    if not torch.equal(finite, torch.isfinite(want64)) or not torch.equal(
            got64[~finite].nan_to_num(), want64[~finite].nan_to_num()):
        return ("it contains NaN or inf" if not bool(finite.all())
                else "it is finite where the reference holds NaN or inf")
    got64, want64 = got64[finite], want64[finite]
    err = (got64 - want64).norm().item()
    scale = (got64.norm() + want64.norm()).item()
    if err <= tol * scale + atol:
        return ''
    return f"relative error {err / max(scale, 1e-300):.1e} (allowed {tol:.0e})"


def expect_close(got, want, what, tol=VALUE_TOL, atol=ATOL, caused_by=None):
    """Check values: ||got - want|| <= tol * (||got|| + ||want||) + atol.

    want is the trusted float64 oracle; got must have its shape.
    """
    expect_tensor(got, what, shape=want.shape)
    why = mismatch(got, want, tol, atol)
    check(not why, f"{what} has the wrong values: {why} on a {fmt_shape(want)} output", caused_by)


def expect_unchanged(after, before, what):
    """Inputs are not modified in place unless the contract says so."""
    check(isinstance(after, torch.Tensor) and after.shape == before.shape
          and torch.equal(after.to('cpu'), before.to('cpu')),
          f"{what} was modified in place; inputs must stay unchanged")


def expect_raises(call, exc_name, what):
    """`call()` must raise a StudentError that reports exception `exc_name`."""
    try:
        call()
    except StudentError as e:
        check(exc_name in str(e), f"{what} should raise {exc_name}, but: {e}")
        return
    raise Failure(f"{what} should raise {exc_name}, but returned normally")


def plain(value, what):
    """A returned value that must have crossed as data (a tensor, a dict of
    tensors), not as a reference to an object of the student's process."""
    check(not isinstance(value, Ref),
          f"{what} must be a tensor/number/dict of tensors, got an object of another type")
    return value


def unpack(value, n, what, names):
    """A student's return value that must be a tuple of n parts."""
    check(isinstance(value, (tuple, list)) and len(value) == n,
          f"{what} must return {names}, got {type(value).__name__}"
          + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else ''))
    return value


# ---------------------------------------------------------------- calls

def forward(student, target, *args, **kwargs):
    """Call a layer's forward: (out, cache Ref, Result)."""
    res = student.call(target, *args, **kwargs)
    out, _ = unpack(res.value, 2, target, '(out, cache)')
    return out, res.ref[1], res


def backward(student, target, dout, cache_ref, names):
    """Call a layer's backward: ({name: gradient}, Result). names: the
    gradients it returns, in order (one name: it returns the tensor alone)."""
    res = student.call(target, dout, cache_ref)
    if len(names) == 1:
        return {names[0]: res.value}, res
    value = unpack(res.value, len(names), target, '(' + ', '.join(f'd{n}' for n in names) + ')')
    return dict(zip(names, value)), res


# ---------------------------------------------------------------- references

@dataclass
class Reference:
    """Something a result may match to earn its points: the true layer (the
    oracle), or the student's own code where the contract allows it (a numeric
    gradient of the student's own forward, a composition of the student's own
    parts). `values` is called at most once, only when an earlier reference
    did not already accept every output, and returns {name: tensor}, or
    {name: relative error} when `errors` is True."""
    label: str
    values: Callable[[], dict]
    tol: float
    errors: bool = False
    atol: float = ATOL


def expect_match(what, got, references, caused_by=None, note='', because=''):
    """Each output in got ({name: tensor}) must match one of the references.

    The first reference is the true one; the others are the student's own code
    that the output may follow instead (whichever is better). Fails listing,
    per wrong output, its error against each reference, then `note`. An output
    accepted by another reference than the first leaves a note saying so, and
    `because` (a string or a callable giving one, e.g. "your BatchNorm.forward
    is wrong (see batchnorm_forward)").
    """
    failing = dict(got)
    reports = {name: [] for name in got}
    for index, ref in enumerate(references):
        if not failing:
            return
        before = set(failing)
        try:
            values = ref.values()
        except (StudentError, Failure) as e:   # the student's own code fails: no reference there
            for name in failing:
                reports[name].append(f"{ref.label}: not available ({e})")
            continue
        for name in list(failing):
            if name not in values:
                continue
            if ref.errors:
                error = values[name]
                if error <= ref.tol:
                    del failing[name]
                else:
                    reports[name].append(f"relative error {error:.1e} (allowed {ref.tol:.0e}) "
                                         f"against {ref.label}")
                continue
            got, want = failing[name], values[name]
            expect_tensor(got, f"{what}: {name}")
            if not isinstance(want, torch.Tensor):
                reports[name].append(f"{ref.label}: not available (not a tensor)")
                continue
            why = (mismatch(got, want, ref.tol, ref.atol) if got.shape == want.shape else
                   f"shape {fmt_shape(got)} where {fmt_shape(want)} is expected")
            if why:
                reports[name].append(f"{why} against {ref.label}")
            else:
                del failing[name]
        accepted = before - set(failing)
        if accepted and index > 0:
            reason = because() if callable(because) else because
            NOTES.append(f"{what}: {', '.join(sorted(map(str, accepted)))} right for {ref.label}, "
                         f"not for the true one" + (f"; {reason}" if reason else ''))
    if failing:
        lines = '; '.join(f"{name} is wrong: " + ', '.join(reports[name]) for name in failing)
        raise Failure(f"{what}: {lines}{note}", caused_by)


# ---------------------------------------------------------------- numeric gradients

# The 4-point central difference: f'(x) ~ (-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h,
# exact to O(h^4): round-off, not truncation, limits it.
STENCIL = ((2, -1 / 12), (1, 8 / 12), (-1, -8 / 12), (-2, 1 / 12))


def unpredictable_order(items):
    """items shuffled with a seed from os.urandom: student code cannot know
    which input comes next. Honest code is a function of its inputs, so the
    order changes nothing it returns."""
    items = list(items)
    random.Random(os.urandom(16)).shuffle(items)
    return items


def own_forward_errors(forward, inputs, grads, dout, seed, directions=2, what='your forward pass'):
    """{name: relative error} of each gradient against central differences of
    the student's OWN forward, computed here in the grader.

    - forward: callable(list of float64 CPU inputs) -> output tensor (calls the student)
    - inputs: {name: float64 tensor}; grads: {name: the student's gradient}
    - dout: upstream gradient shaped like the output (None: a scalar output)

    Along fixed random directions u (seeded: the same on every regrade), the
    derivative of L = sum(forward * dout) must equal sum(grad * u). Every
    point is evaluated twice, all in an order drawn from os.urandom, and the
    two calls on each input must agree: a forward that remembers what it was
    called with cannot fake a gradient.
    """
    gen = torch.Generator().manual_seed(seed)
    names = [n for n in inputs if isinstance(grads.get(n), torch.Tensor)
             and grads[n].shape == inputs[n].shape]
    plan = {}   # (name, direction) -> (u, h)
    for name in names:
        x = inputs[name]
        rms = x.double().pow(2).mean().sqrt().item() if x.numel() else 1.0
        h = 1e-6 * max(rms, 1e-2)
        for d in range(directions):
            plan[(name, d)] = (torch.randn(x.shape, generator=gen, dtype=F64), h)
    points = [(key, step) for key in plan for step, _ in STENCIL]
    values = {}
    for point in unpredictable_order(points * 2):
        (name, d), step = point
        u, h = plan[(name, d)]
        moved = dict(inputs)
        moved[name] = inputs[name] + step * h * u
        out = forward([moved[n] for n in inputs])
        expect_tensor(out, f"{what}: the output")
        out = out.detach().to('cpu', F64)
        value = (out if dout is None else out * dout.to(F64)).sum().item()
        if point in values:
            first = values[point]
            check(same_number(value, first, REPEAT_TOL),
                  f"{what} returned different values for the same input on repeated calls "
                  f"({first!r} and {value!r}): a forward pass must be a function of its inputs, "
                  "so its gradient cannot be checked")
        values[point] = value
    errors = {n: math.inf for n in inputs if n not in names}   # no gradient of its shape
    for (name, d), (u, h) in plan.items():
        at = [values[((name, d), step)] for step, _ in STENCIL]
        numeric = sum(c * f for (_, c), f in zip(STENCIL, at)) / h
        analytic = (grads[name].detach().to('cpu', F64) * u).sum().item()
        # Round-off in the differences of L (~1e-16 |L| each, divided by h), with a
        # wide margin: a derivative much smaller than L cannot be told more finely.
        floor = ROUNDOFF * max(abs(f) for f in at) / h
        error = abs(numeric - analytic) / max(abs(numeric) + abs(analytic) + floor / FD_TOL, 1e-300)
        errors[name] = worst(errors.get(name, 0.0), error)
    return errors


def same_number(a, b, tol):
    """a and b agree to a relative tol; NaN agrees with NaN, inf with itself."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return a == b or (math.isnan(a) and math.isnan(b))
    return abs(a - b) <= tol * (abs(a) + abs(b)) + 1e-300


def worst(*errors):
    """The largest of some relative errors; NaN when any is NaN (a gradient
    holding NaN or inf is no match, though max(0.0, nan) is 0.0)."""
    return math.nan if any(math.isnan(e) for e in errors) else max(errors)


# ---------------------------------------------------------------- randomness

def _sigma_tol(sigma, n, k=6.0):
    return k * sigma / math.sqrt(n)


def expect_normal(w, std, what, k=6.0):
    """w looks like i.i.d. N(0, std^2): mean, spread, and the share within one
    std (0.6827), each within k standard errors of the sampling noise."""
    w = w.detach().to('cpu', F64).flatten()
    n = w.numel()
    mean, sd = w.mean().item(), w.std().item()
    check(abs(mean) <= _sigma_tol(std, n, k),
          f"{what}: the mean of the {n} values is {mean:.3g}, expected about 0")
    check(abs(sd - std) <= _sigma_tol(std, 2 * n, k),
          f"{what}: the standard deviation is {sd:.4g}, expected {std:.4g}")
    inside = (w.abs() <= std).double().mean().item()
    p = math.erf(1 / math.sqrt(2))
    check(abs(inside - p) <= _sigma_tol(math.sqrt(p * (1 - p)), n, k),
          f"{what}: {inside:.3f} of the values lie within one std of 0; a normal "
          f"distribution has {p:.3f} there")


def expect_uniform(w, a, what, k=6.0):
    """w looks like i.i.d. U(-a, a): inside the bounds, reaching near both ends,
    mean about 0, half the values within a/2, std about a/sqrt(3)."""
    w = w.detach().to('cpu', F64).flatten()
    n = w.numel()
    low, high = w.min().item(), w.max().item()
    check(-a * (1 + 1e-6) <= low and high <= a * (1 + 1e-6),
          f"{what}: values range over [{low:.4g}, {high:.4g}], outside the bound {a:.4g}")
    # P(no value within 40a/n of an end) = (1 - 20/n)^n ~ e^-20.
    check(high >= a * (1 - 40 / n) and low <= -a * (1 - 40 / n),
          f"{what}: values range over [{low:.4g}, {high:.4g}], expected to fill (-{a:.4g}, {a:.4g})")
    mean = w.mean().item()
    check(abs(mean) <= _sigma_tol(a / math.sqrt(3), n, k),
          f"{what}: the mean of the {n} values is {mean:.3g}, expected about 0")
    inside = (w.abs() <= a / 2).double().mean().item()
    check(abs(inside - 0.5) <= _sigma_tol(0.5, n, k),
          f"{what}: {inside:.3f} of the values lie within half the bound; U(-a, a) has 0.5 there")
    sd = w.std().item()
    check(abs(sd - a / math.sqrt(3)) <= _sigma_tol(a / math.sqrt(3) * math.sqrt(0.2), n, k),
          f"{what}: the standard deviation is {sd:.4g}, expected {a / math.sqrt(3):.4g}")


def same_spread(w, other, k=6.0):
    """True when w and other (zero-mean draws) have the same standard deviation
    within k standard errors: w was drawn like other."""
    w, other = w.detach().to('cpu', F64).flatten(), other.detach().to('cpu', F64).flatten()
    a, b = w.std().item(), other.std().item()
    # The sample std of n draws has standard error ~ std * sqrt(kurtosis-ish / n); 1/sqrt(n)
    # covers uniform and normal draws alike.
    return abs(a - b) <= k * max(a, b) * (1 / math.sqrt(w.numel()) + 1 / math.sqrt(other.numel()))
