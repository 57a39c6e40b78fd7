"""Hidden tests of scratchnn/dropout.py, by statistics that accept any correct
way of drawing the mask: keep rate within 6 binomial standard deviations of
1 - p, kept elements scaled by exactly 1 / (1 - p), the rest zero, masks
repeatable with a seed, and a backward pass that uses the forward's mask.
"""
import math

import pytest
import torch

from autograder.rubric import Graded
from autograder.suites import oracles as O
from autograder.suites import passes as P
from autograder.suites.checks import (Reference, check, expect_close, expect_match,
                                      expect_raises, expect_tensor, expect_unchanged, forward)

ITEMS = {'dropout_forward': Graded(('dropout.Dropout.forward',)),
         'dropout_backward': Graded(('dropout.Dropout.backward',))}
SHAPES = {'2d': (100, 200), '4d': (8, 5, 25, 20), '1d': (20000,), 'non-contiguous': (100, 200)}


def positive(shape, seed, dtype=torch.float64, strided=False):
    """Inputs in [1, 2): no element is zero, so out / x recovers the scaled mask."""
    x = (1 + torch.rand(*shape, generator=O.generator(seed), dtype=torch.float64)).to(dtype)
    return O.non_contiguous(x) if strided else x


def dropout(student, x, **param):
    out, cache, res = forward(student, 'dropout.Dropout.forward', x, param)
    expect_tensor(out, f"Dropout.forward: out for p={param['p']}, mode={param['mode']!r}",
                  shape=x.shape)
    return out, cache, res


def scaled_mask(out, x, p, what):
    """out / x, checked to be 0 or 1 / (1 - p) everywhere; returns the keep mask."""
    ratio = out.detach().double() / x.double()
    kept = ratio != 0
    check(bool(torch.isfinite(ratio).all()), f"{what}: out contains NaN or inf")
    err = (ratio[kept] - 1 / (1 - p)).abs().max().item() if kept.any() else 0.0
    check(err <= 1e-6 / (1 - p),
          f"{what}: kept elements must be scaled by exactly 1/(1-p) = {1 / (1 - p):.4g} "
          f"(off by up to {err:.2g}), dropped ones set to 0")
    return kept


def check_train_output(out, x, p, what):
    """A train-mode output: a scaled mask, keeping about 1 - p of the elements."""
    kept = scaled_mask(out, x, p, what)
    rate, n = kept.double().mean().item(), kept.numel()
    check(abs(rate - (1 - p)) <= 6 * math.sqrt(p * (1 - p) / n),
          f"{what}: {rate:.3f} of the elements were kept; each must be kept with "
          f"probability 1-p = {1 - p:.3f}")
    return kept


@pytest.mark.item('dropout_forward', points=2.0)
@pytest.mark.parametrize('p', [0.25, 0.5, 0.8, 0.0])
@pytest.mark.parametrize('shape_id', SHAPES)
def test_dropout_forward_train_statistics(student, shape_id, p):
    x = positive(SHAPES[shape_id], seed=10, strided=shape_id == 'non-contiguous')
    what = f"Dropout.forward (train mode, p={p}) on a {shape_id} {tuple(x.shape)} input"
    out, _, _ = dropout(student, x, p=p, mode='train')
    kept = check_train_output(out, x, p, what)
    if 0 < p and x.dim() == 2:
        # One independent draw per element, not a mask shared by rows or columns.
        rows, cols = kept[:10].tolist(), kept[:, :10].T.tolist()
        check(len({tuple(r) for r in rows}) == 10 and len({tuple(c) for c in cols}) == 10,
              f"{what}: rows or columns of the mask repeat; every element needs its own draw")


@pytest.mark.item('dropout_forward', points=0.8)
@pytest.mark.parametrize('shape_id', SHAPES)
def test_dropout_forward_test_mode(student, shape_id):
    x = positive(SHAPES[shape_id], seed=20, strided=shape_id == 'non-contiguous')
    for p in (0.3, 0.7):
        out, _, _ = dropout(student, x, p=p, mode='test')
        check(torch.equal(out.double(), x),
              f"Dropout.forward (test mode, p={p}): out must equal x (inverted dropout scales "
              "in train mode only)")


@pytest.mark.item('dropout_forward', points=0.4)
def test_dropout_forward_seed(student):
    x = positive((40, 50), seed=30)
    first, _, _ = dropout(student, x, p=0.4, mode='train', seed=123)
    again, _, _ = dropout(student, x, p=0.4, mode='train', seed=123)
    other, _, _ = dropout(student, x, p=0.4, mode='train', seed=124)
    check(torch.equal(first, again),
          "Dropout.forward: two calls with the same seed gave different masks")
    check(not torch.equal(first, other),
          "Dropout.forward: calls with seeds 123 and 124 gave the same mask")
    zero, _, _ = dropout(student, x, p=0.4, mode='train', seed=0)
    zero_again, _, _ = dropout(student, x, p=0.4, mode='train', seed=0)
    check(torch.equal(zero, zero_again),
          "Dropout.forward: two calls with seed=0 gave different masks (0 is a seed too: "
          "test `'seed' in dropout_param` or `seed is not None`, not the seed's truth)")


@pytest.mark.item('dropout_forward', points=0.4)
def test_dropout_forward_dtype_and_device(student):
    for device, dtype in P.dtype_device_cases():
        x = positive((20, 30), seed=40, dtype=dtype).to(device)
        for mode in ('train', 'test'):
            out, _, _ = dropout(student, x, p=0.5, mode=mode)
            expect_tensor(out, f"Dropout.forward ({mode} mode): out for {dtype} input on {device}",
                          dtype=dtype, device=device)
            if device == 'cpu' and mode == 'train':
                check_train_output(out, x, 0.5, "Dropout.forward (train mode) on float32 input")


@pytest.mark.item('dropout_forward', points=0.2)
def test_dropout_forward_leaves_inputs_unchanged(student):
    """x and dropout_param stay unchanged (side condition)."""
    x = positive((60, 4, 30), seed=45, strided=True)
    for mode in ('train', 'test'):
        out, _, res = dropout(student, x, p=0.5, mode=mode, seed=3)
        if mode == 'train':
            check_train_output(out, x, 0.5, "Dropout.forward (train mode)")
        else:
            check(torch.equal(out.double(), x), "Dropout.forward (test mode): out must equal x")
        expect_unchanged(res.args[0], x, f"Dropout.forward ({mode} mode): x")


@pytest.mark.item('dropout_forward', points=0.2)
def test_dropout_forward_rejects_bad_params(student):
    """mode='eval' and p=1 raise ValueError (the checks the release gives, kept
    in a forward pass that works)."""
    x = positive((3, 4), seed=46)
    dropout(student, x, p=0.3, mode='train')
    expect_raises(lambda: student.call('dropout.Dropout.forward', x, {'p': 0.3, 'mode': 'eval'}),
                  'ValueError', "Dropout.forward with mode='eval'")
    expect_raises(lambda: student.call('dropout.Dropout.forward', x, {'p': 1.0, 'mode': 'train'}),
                  'ValueError', "Dropout.forward with p=1")


BACKWARD_CASES = {  # id: (shape, p, seed, non-contiguous dout)
    '2d': ((30, 40), 0.3, None, False), '4d-with-seed': ((4, 3, 5, 6), 0.6, 7, False),
    '1d': ((500,), 0.5, None, False), 'non-contiguous-dout': ((20, 6, 4), 0.5, None, True)}


@pytest.mark.item('dropout_backward', points=1.8)
@pytest.mark.parametrize('case', BACKWARD_CASES)
def test_dropout_backward_uses_forward_mask(student, case):
    shape, p, seed, strided = BACKWARD_CASES[case]
    x = positive(shape, seed=50)
    param = {'p': p, 'mode': 'train'} if seed is None else {'p': p, 'mode': 'train', 'seed': seed}
    out, cache, _ = dropout(student, x, **param)
    dout = O.randn(*shape, seed=55)
    if strided:
        dout = O.non_contiguous(dout)
    dx = student.call('dropout.Dropout.backward', dout, cache).value
    # Whatever mask forward drew, dx = dout * (out / x): the same mask and scale.
    expect_close(dx, dout * (out.double() / x),
                 f"Dropout.backward (train mode, p={p}): dx for a {shape} input "
                 "(it must reuse the forward pass's mask and scale)", tol=1e-10)


@pytest.mark.item('dropout_backward', points=0.5)
def test_dropout_backward_test_mode(student):
    x, dout = positive((10, 12), seed=60), O.randn(10, 12, seed=61)
    _, cache, _ = dropout(student, x, p=0.5, mode='test')
    dx = student.call('dropout.Dropout.backward', dout, cache).value
    expect_close(dx, dout, "Dropout.backward (test mode): dx", tol=0, atol=0)


def backward_references(mode, dout, out, x, tol):
    """What dx may be: the gradient of the student's own forward, dout * (out / x)
    (whatever mask it drew); in test mode also dout itself, the true layer's
    gradient, whatever the forward did (a wrong test-mode forward is
    dropout_forward's mistake, not the backward's)."""
    own = Reference("your forward pass's mask and scale",
                    lambda: {'dx': dout.double() * (out.double() / x.double())}, tol)
    true = Reference('the identity of test mode', lambda: {'dx': dout.double()}, tol)
    return [own, true] if mode == 'test' else [own]


@pytest.mark.item('dropout_backward', points=0.4)
def test_dropout_backward_dtype_and_device(student):
    for device, dtype in P.dtype_device_cases():
        x, dout = positive((10, 12), seed=62, dtype=dtype).to(device), O.randn(
            10, 12, seed=63, dtype=dtype).to(device)
        for mode in ('train', 'test'):
            out, cache, _ = dropout(student, x, p=0.5, mode=mode)
            dx = student.call('dropout.Dropout.backward', dout, cache).value
            if device == 'cpu':
                expect_match(f"Dropout.backward ({mode} mode) for {dtype} input", {'dx': dx},
                             backward_references(mode, dout, out, x, 1e-5))
            expect_tensor(dx, f"Dropout.backward ({mode} mode): dx for {dtype} input on {device}",
                          shape=x.shape, dtype=dtype, device=device)


@pytest.mark.item('dropout_backward', points=0.3)
def test_dropout_backward_leaves_dout_unchanged(student):
    x, dout = positive((8, 9), seed=64), O.non_contiguous(O.randn(8, 9, seed=65))
    for mode in ('train', 'test'):
        out, cache, _ = dropout(student, x, p=0.5, mode=mode)
        res = student.call('dropout.Dropout.backward', dout, cache)
        expect_match(f"Dropout.backward ({mode} mode) (it must reuse the forward pass's mask)",
                     {'dx': res.value}, backward_references(mode, dout, out, x, 1e-10))
        expect_unchanged(res.args[0], dout, f"Dropout.backward ({mode} mode): dout")
