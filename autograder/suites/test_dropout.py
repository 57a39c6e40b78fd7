"""Hidden tests of scratchnn/dropout.py, by statistics that accept any correct
way of drawing the mask: keep rate within 6 binomial standard deviations of
1 - p, kept elements scaled by exactly 1 / (1 - p), the rest zero, masks
repeatable with a seed, and a backward pass that uses the forward's mask.
"""
import math

import pytest
import torch

from autograder.suites import oracles as O
from autograder.suites.oracles import check, expect_close, expect_tensor


def positive(*shape, seed, dtype=torch.float64):
    """Inputs in [1, 2): no element is zero, so out / x recovers the scaled mask."""
    return (1 + torch.rand(*shape, generator=O.generator(seed), dtype=torch.float64)).to(dtype)


def dropout(student, x, **param):
    out, cache, res = O.forward(student, 'dropout.Dropout.forward', x, param)
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


@pytest.mark.item('dropout_forward')
def test_dropout_forward_train_statistics(student):
    for k, p in enumerate([0.25, 0.5, 0.8, 0.0]):
        x = positive(100, 200, seed=10 + k)
        what = f"Dropout.forward (train mode, p={p}) on a (100, 200) input"
        out, _, res = dropout(student, x, p=p, mode='train')
        O.expect_unchanged(res.args[0], x, "Dropout.forward: x")
        kept = scaled_mask(out, x, p, what)
        rate, n = kept.double().mean().item(), kept.numel()
        tol = 6 * math.sqrt(p * (1 - p) / n)
        check(abs(rate - (1 - p)) <= tol,
              f"{what}: {rate:.3f} of the elements were kept; each must be kept with "
              f"probability 1-p = {1 - p:.3f}")
        if 0 < p:
            # One independent draw per element, not a mask shared by rows or columns.
            rows, cols = kept[:10].tolist(), kept[:, :10].T.tolist()
            check(len({tuple(r) for r in rows}) == 10 and len({tuple(c) for c in cols}) == 10,
                  f"{what}: rows or columns of the mask repeat; every element needs its own draw")


@pytest.mark.item('dropout_forward')
def test_dropout_forward_test_mode(student):
    x = positive(30, 40, seed=20)
    for p in (0.3, 0.7):
        out, _, _ = dropout(student, x, p=p, mode='test')
        check(torch.equal(out.double(), x),
              f"Dropout.forward (test mode, p={p}): out must equal x (inverted dropout scales "
              "in train mode only)")
    O.expect_raises(lambda: student.call('dropout.Dropout.forward', x, {'p': 0.3, 'mode': 'eval'}),
                    'ValueError', "Dropout.forward with mode='eval'")


@pytest.mark.item('dropout_forward')
def test_dropout_forward_seed(student):
    x = positive(40, 50, seed=30)
    first, _, _ = dropout(student, x, p=0.4, mode='train', seed=123)
    again, _, _ = dropout(student, x, p=0.4, mode='train', seed=123)
    other, _, _ = dropout(student, x, p=0.4, mode='train', seed=124)
    check(torch.equal(first, again),
          "Dropout.forward: two calls with the same seed gave different masks")
    check(not torch.equal(first, other),
          "Dropout.forward: calls with seeds 123 and 124 gave the same mask")


@pytest.mark.item('dropout_forward')
def test_dropout_forward_dtype_and_device(student):
    cases = [('cpu', torch.float32)] + [(d, torch.float64) for d in O.extra_devices()]
    for device, dtype in cases:
        x = positive(20, 30, seed=40, dtype=dtype).to(device)
        for mode in ('train', 'test'):
            out, _, _ = dropout(student, x, p=0.5, mode=mode)
            expect_tensor(out, f"Dropout.forward ({mode} mode): out for {dtype} input on {device}",
                          dtype=dtype, device=device)
            if device == 'cpu' and mode == 'train':
                scaled_mask(out, x, 0.5, "Dropout.forward (train mode) on float32 input")


@pytest.mark.item('dropout_backward')
def test_dropout_backward_uses_forward_mask(student):
    for k, (shape, p, seed) in enumerate([((30, 40), 0.3, None), ((4, 3, 5, 6), 0.6, 7)]):
        x = positive(*shape, seed=50 + k)
        param = {'p': p, 'mode': 'train'} if seed is None else {'p': p, 'mode': 'train', 'seed': seed}
        out, cache, _ = dropout(student, x, **param)
        dout = O.randn(*shape, seed=55 + k)
        dx = O.backward(student, 'dropout.Dropout.backward', dout, cache, n=1)
        # Whatever mask forward drew, dx = dout * (out / x): the same mask and scale.
        expect_close(dx, dout * (out.double() / x),
                     f"Dropout.backward (train mode, p={p}): dx for a {shape} input "
                     "(it must reuse the forward pass's mask and scale)", tol=1e-10)


@pytest.mark.item('dropout_backward')
def test_dropout_backward_test_mode_dtype_and_device(student):
    x, dout = positive(10, 12, seed=60), O.randn(10, 12, seed=61)
    _, cache, _ = dropout(student, x, p=0.5, mode='test')
    dx = O.backward(student, 'dropout.Dropout.backward', dout, cache, n=1)
    expect_close(dx, dout, "Dropout.backward (test mode): dx", tol=0, atol=0)
    cases = [('cpu', torch.float32)] + [(d, torch.float64) for d in O.extra_devices()]
    for device, dtype in cases:
        xd, doutd = x.to(device=device, dtype=dtype), dout.to(device=device, dtype=dtype)
        _, cache, _ = dropout(student, xd, p=0.5, mode='train')
        dx = O.backward(student, 'dropout.Dropout.backward', doutd, cache, n=1)
        expect_tensor(dx, f"Dropout.backward: dx for {dtype} input on {device}", shape=x.shape,
                      dtype=dtype, device=device)
