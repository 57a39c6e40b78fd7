"""Trusted references and checks for the hidden suites.

Everything here runs in the grader process and never touches student code:
torch's own ops with autograd in float64 (the oracles), torch.optim
trajectories, finite differences through the Student interface, and the
checks that turn a mismatch into a message for the student. The messages say
which output is wrong and by how much, never the expected tensor.
"""
import importlib.util
import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from autograder.student import StudentError

REPO = Path(__file__).resolve().parents[2]
# Where the trusted, given modules of scratchnn (data.py) live in the grader.
TRUSTED_DIR = Path(os.environ.get('SCRATCHNN_TRUSTED_DIR',
                                  REPO / 'solutions' / 'nn_from_scratch' / 'scratchnn'))
F64 = torch.float64


# ---------------------------------------------------------------- inputs

def generator(seed):
    """A private torch.Generator: grader inputs never depend on the global RNG,
    which student code is free to reseed."""
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed, scale=1.0, dtype=F64):
    return (scale * torch.randn(*shape, generator=generator(seed), dtype=F64)).to(dtype)


def extra_devices():
    """Devices besides the CPU every suite checks: meta always, CUDA when present."""
    return ['meta'] + (['cuda'] if torch.cuda.is_available() else [])


def fmt_shape(t):
    return str(tuple(t.shape))


# ---------------------------------------------------------------- checks

def check(condition, message):
    """Fail the test with exactly `message` (plain raise: no assertion
    introspection that could show the test's source or expected values)."""
    if not condition:
        raise AssertionError(message)


def rel_error(got, want):
    """||got - want|| / (||got|| + ||want||), in float64 on the CPU."""
    got, want = got.detach().to('cpu', F64), want.detach().to('cpu', F64)
    return ((got - want).norm() / (got.norm() + want.norm()).clamp_min(1e-300)).item()


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


def expect_close(got, want, what, tol=1e-8, atol=1e-12):
    """Check values: ||got - want|| <= tol * (||got|| + ||want||) + atol.

    want is the trusted float64 oracle; got must have its shape. atol covers
    outputs that are zero in exact arithmetic (round-off on both sides).
    """
    expect_tensor(got, what, shape=want.shape)
    got64 = got.detach().to('cpu', F64)
    want64 = want.detach().to('cpu', F64)
    check(bool(torch.isfinite(got64).all()),
          f"{what} contains NaN or inf (on a {fmt_shape(want)} output)")
    err = (got64 - want64).norm().item()
    scale = (got64.norm() + want64.norm()).item()
    check(err <= tol * scale + atol,
          f"{what} has the wrong values (relative error {err / max(scale, 1e-300):.1e} "
          f"on a {fmt_shape(want)} output)")


def expect_unchanged(after, before, what):
    """Inputs are not modified in place unless the contract says so."""
    check(isinstance(after, torch.Tensor) and torch.equal(after, before),
          f"{what} was modified in place; inputs must stay unchanged")


def expect_raises(call, exc_name, what):
    """`call()` must raise a StudentError that reports exception `exc_name`."""
    try:
        call()
    except StudentError as e:
        check(exc_name in str(e), f"{what} should raise {exc_name}, but: {e}")
        return
    raise AssertionError(f"{what} should raise {exc_name}, but returned normally")


def plain(value, what):
    """A returned value that must have crossed as data (a tensor, a dict of
    tensors), not as a reference to an object of the student's process."""
    from autograder.student import Ref
    check(not isinstance(value, Ref),
          f"{what} must be a tensor/number/dict of tensors, got an object of another type")
    return value


# ---------------------------------------------------------------- gradients

def autograd(fn, inputs, dout=None):
    """Oracle gradients: (fn(*inputs) detached, [d sum(fn * dout) / d input]).

    Each input gets a fresh float64 leaf copy; dout=None means ones.
    """
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    out = fn(*leaves)
    grad_out = torch.ones_like(out) if dout is None else dout
    grads = torch.autograd.grad(out, leaves, grad_outputs=grad_out)
    return out.detach(), [g.detach() for g in grads]


def directional_check(forward, inputs, grads, dout, names, what, seed=0, directions=2,
                      h=1e-5, tol=1e-5):
    """The student's analytic gradients against central differences of the
    student's OWN forward, computed here in the grader.

    Inputs:
    - forward: callable(list of inputs) -> output tensor (calls the student)
    - inputs: list of float64 tensors; grads: the student's gradient of each
      (None to skip one), same shapes
    - dout: upstream gradient shaped like the output (None: the output is a
      scalar loss)
    - names: name of each input, for messages; what: the function checked

    For a random direction u, (L(x + h u) - L(x - h u)) / 2h with
    L = sum(forward * dout) must equal sum(grad * u).
    """
    gen = generator(seed)
    for i, (x, g, name) in enumerate(zip(inputs, grads, names)):
        if g is None:
            continue
        expect_tensor(g, f"{what}: d{name}", shape=x.shape)
        for _ in range(directions):
            u = torch.randn(x.shape, generator=gen, dtype=F64)

            def objective(sign):
                moved = list(inputs)
                moved[i] = x + sign * h * u
                out = forward(moved)
                expect_tensor(out, f"{what}: the output")
                out = out.detach().to('cpu', F64)
                return (out if dout is None else out * dout).sum().item()

            numeric = (objective(1) - objective(-1)) / (2 * h)
            analytic = (g.detach().to('cpu', F64) * u).sum().item()
            err = abs(numeric - analytic)
            scale = abs(numeric) + abs(analytic)
            check(err <= tol * scale + 1e-7,
                  f"{what}: d{name} does not match a numeric gradient of your own forward "
                  f"pass (relative error {err / max(scale, 1e-300):.1e} along a random "
                  f"direction, {fmt_shape(x)} {name})")


# ---------------------------------------------------------------- layer oracles

def linear(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b


def softmax_loss(x, y):
    return F.cross_entropy(x, y)


def batchnorm_train(x, gamma, beta, eps=1e-5):
    """Train-mode batch norm over dim 0 of (N, D), or N, H, W of (N, C, H, W)."""
    return F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)


def batchnorm_test(x, gamma, beta, running_mean, running_var, eps=1e-5):
    return F.batch_norm(x, running_mean, running_var, gamma, beta, training=False, eps=eps)


def batch_stats(x):
    """(mean, biased var) per feature/channel: what BatchNorm's running averages follow."""
    dims = [0] if x.dim() == 2 else [0, 2, 3]
    return x.mean(dim=dims), x.var(dim=dims, unbiased=False)


def layernorm(x, gamma, beta, eps=1e-5):
    return F.layer_norm(x, (x.shape[1],), gamma, beta, eps)


def groupnorm(x, gamma, beta, G, eps=1e-5):
    return F.group_norm(x, G, gamma, beta, eps)


def fc_net_scores(params, X, num_layers, normalization=None, running=None, eps=1e-5):
    """Scores of a FullyConnectedNet without dropout.

    running: None for train-mode normalization (batch statistics), or a list of
    L-1 (running_mean, running_var) pairs for test-mode batchnorm.
    """
    h = X.reshape(X.shape[0], -1)
    for i in range(1, num_layers):
        h = linear(h, params[f'W{i}'], params[f'b{i}'])
        gamma, beta = params.get(f'gamma{i}'), params.get(f'beta{i}')
        if normalization == 'batchnorm' and running is None:
            h = batchnorm_train(h, gamma, beta, eps)
        elif normalization == 'batchnorm':
            h = batchnorm_test(h, gamma, beta, *running[i - 1], eps)
        elif normalization == 'layernorm':
            h = layernorm(h, gamma, beta, eps)
        h = F.relu(h)
    return linear(h, params[f'W{num_layers}'], params[f'b{num_layers}'])


def fc_net_loss(params, X, y, num_layers, normalization=None, reg=0.0):
    """Mean cross-entropy plus reg * sum(W**2) over the weights only."""
    scores = fc_net_scores(params, X, num_layers, normalization)
    return softmax_loss(scores, y) + reg * sum((params[f'W{i}'] ** 2).sum()
                                               for i in range(1, num_layers + 1))


# ---------------------------------------------------------------- optimizers

# rule -> (torch.optim class, hyperparameters translated from our config,
#          our state key -> function of (torch state, our config))
def _lr(c):
    return c['learning_rate']


TORCH_RULES = {
    'sgd': (torch.optim.SGD, lambda c: dict(lr=_lr(c), weight_decay=c['weight_decay']), {}),
    'sgd_momentum': (torch.optim.SGD,
                     lambda c: dict(lr=_lr(c), momentum=c['momentum'], weight_decay=c['weight_decay']),
                     {'velocity': lambda s, c: -_lr(c) * s['momentum_buffer']}),
    'nesterov': (torch.optim.SGD,
                 lambda c: dict(lr=_lr(c), momentum=c['momentum'], nesterov=True,
                                weight_decay=c['weight_decay']),
                 {'velocity': lambda s, c: -_lr(c) * s['momentum_buffer']}),
    'adagrad': (torch.optim.Adagrad,
                lambda c: dict(lr=_lr(c), eps=c['epsilon'], weight_decay=c['weight_decay']),
                {'cache': lambda s, c: s['sum']}),
    'rmsprop': (torch.optim.RMSprop,
                lambda c: dict(lr=_lr(c), alpha=c['decay_rate'], eps=c['epsilon'],
                               weight_decay=c['weight_decay']),
                {'cache': lambda s, c: s['square_avg']}),
    'adadelta': (torch.optim.Adadelta,
                 lambda c: dict(lr=_lr(c), rho=c['rho'], eps=c['epsilon'],
                                weight_decay=c['weight_decay']),
                 {'cache': lambda s, c: s['square_avg'], 'delta': lambda s, c: s['acc_delta']}),
    'adam': (torch.optim.Adam,
             lambda c: dict(lr=_lr(c), betas=(c['beta1'], c['beta2']), eps=c['epsilon'],
                            weight_decay=c['weight_decay']),
             {'m': lambda s, c: s['exp_avg'], 'v': lambda s, c: s['exp_avg_sq'],
              't': lambda s, c: int(s['step'])}),
    'adamw': (torch.optim.AdamW,
              lambda c: dict(lr=_lr(c), betas=(c['beta1'], c['beta2']), eps=c['epsilon'],
                             weight_decay=c['weight_decay']),
              {'m': lambda s, c: s['exp_avg'], 'v': lambda s, c: s['exp_avg_sq'],
               't': lambda s, c: int(s['step'])}),
}

DEFAULTS = {
    'sgd': dict(learning_rate=1e-2, weight_decay=0.0),
    'sgd_momentum': dict(learning_rate=1e-2, momentum=0.9, weight_decay=0.0),
    'nesterov': dict(learning_rate=1e-2, momentum=0.9, weight_decay=0.0),
    'adagrad': dict(learning_rate=1e-2, epsilon=1e-8, weight_decay=0.0),
    'rmsprop': dict(learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8, weight_decay=0.0),
    'adadelta': dict(learning_rate=1.0, rho=0.9, epsilon=1e-6, weight_decay=0.0),
    'adam': dict(learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.0),
    'adamw': dict(learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=1e-2),
}


def gradient_sequence(shape, steps, seed):
    """Gradients for `steps` updates: noise plus a steady pull, with element
    scales from 1e-6 to 10 so that epsilon and the order of operations matter."""
    gen = generator(seed)
    n = math.prod(shape)
    scales = torch.logspace(-6, 1, n, dtype=F64)[torch.randperm(n, generator=gen)].reshape(shape)
    drift = torch.randn(shape, generator=gen, dtype=F64)
    return [scales * (drift + torch.randn(shape, generator=gen, dtype=F64)) for _ in range(steps)]


def torch_trajectory(rule, w0, grads, config):
    """torch.optim's weights after each step and its final state in our keys.

    config: our hyperparameters (missing ones take the contract's defaults).
    Returns ([w after step 1, ...], {state key: value}).
    """
    hyper = {**DEFAULTS[rule], **(config or {})}
    opt_class, translate, state_keys = TORCH_RULES[rule]
    p = w0.detach().clone()
    opt = opt_class([p], foreach=False, **translate(hyper))
    trajectory = []
    for g in grads:
        p.grad = g.clone()
        opt.step()
        trajectory.append(p.detach().clone())
    state = opt.state[p]
    return trajectory, {key: fn(state, hyper) for key, fn in state_keys.items()}


# ---------------------------------------------------------------- data

def load_trusted(name):
    """A given (trusted) module of scratchnn loaded here by path, e.g. 'data'."""
    spec = importlib.util.spec_from_file_location(f'_trusted_scratchnn_{name}',
                                                  TRUSTED_DIR / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_DIGITS = {}


def digits(seed=0):
    """The digits splits (float64, CPU) from the trusted loader, cached."""
    if seed not in _DIGITS:
        data = load_trusted('data').load_digits(seed=seed, dtype=F64)
        _DIGITS[seed] = data
    return _DIGITS[seed]


def accuracy(scores, y):
    return (scores.argmax(dim=1) == y).double().mean().item()


# ---------------------------------------------------------------- calls

def unpack(value, n, what, names):
    """A student's return value that must be a tuple of n parts."""
    check(isinstance(value, (tuple, list)) and len(value) == n,
          f"{what} must return {names}, got {type(value).__name__}"
          + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else ''))
    return value


def forward(student, target, *args, **kwargs):
    """Call a layer's forward: (out, cache Ref, Result)."""
    res = student.call(target, *args, **kwargs)
    out, _ = unpack(res.value, 2, target, '(out, cache)')
    return out, res.ref[1], res


def backward(student, target, dout, cache_ref, n=3):
    """Call a layer's backward; a tuple of n gradients (n=1: the single dx)."""
    value = student.call(target, dout, cache_ref).value
    if n == 1:
        return value
    return unpack(value, n, target, '(' + ', '.join(['dx', 'dw', 'db'][:n]) + ')')


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
