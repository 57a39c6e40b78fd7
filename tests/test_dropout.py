"""scratchnn.dropout: inverted dropout, checked by its statistics (any way of
drawing the mask is correct, so no exact mask is expected)."""
import math

import pytest
import torch

from scratchnn import Dropout

f64 = torch.float64
# Inputs come from a generator of their own: drawn from the global one, x
# could repeat the very numbers the mask is drawn from (after another test's
# torch.manual_seed(0) and seed=0 here), which biases the kept values.
INPUTS = torch.Generator().manual_seed(20261122)


def forward(x, **param):
    return Dropout.forward(x, {'mode': 'train', **param})


@pytest.mark.parametrize('p', [0.1, 0.25, 0.5, 0.9])
def test_keep_fraction_and_scaling(p):
    x = torch.rand(400, 500, dtype=f64, generator=INPUTS) + 0.5  # no zeros in x
    out, _ = forward(x, p=p, seed=0)
    kept = out != 0
    n = x.numel()
    # Binomial: 6 standard deviations of the kept fraction.
    assert abs(kept.double().mean().item() - (1 - p)) < 6 * math.sqrt(p * (1 - p) / n)
    assert torch.allclose(out[kept], x[kept] / (1 - p), rtol=1e-14, atol=0)
    # Inverted dropout keeps the expected value: the mean is preserved.
    assert abs(out.mean().item() / x.mean().item() - 1) < 0.02


@pytest.mark.parametrize('p', [0.3, 0.7])
def test_backward_uses_the_forward_mask(p):
    x = torch.rand(50, 60, dtype=f64, generator=INPUTS) + 0.5
    dout = torch.randn(50, 60, dtype=f64, generator=INPUTS)
    out, cache = forward(x, p=p, seed=3)
    dx = Dropout.backward(dout, cache)
    mask = out / x  # 0 or 1 / (1 - p), elementwise
    assert torch.allclose(dx, dout * mask, rtol=1e-13, atol=0)


def test_mask_is_independent_per_element():
    """Not one mask per row or per column."""
    out, _ = forward(torch.ones(200, 200, dtype=f64), p=0.5, seed=1)
    kept = (out != 0).double()
    assert kept.mean(1).std().item() > 0.01 and kept.mean(0).std().item() > 0.01


def test_seed_makes_masks_repeatable():
    x = torch.ones(30, 40, dtype=f64)
    a, _ = forward(x, p=0.5, seed=7)
    b, _ = forward(x, p=0.5, seed=7)
    c, _ = forward(x, p=0.5, seed=8)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_without_seed_masks_differ():
    x = torch.ones(30, 40, dtype=f64)
    a, _ = forward(x, p=0.5)
    b, _ = forward(x, p=0.5)
    assert not torch.equal(a, b)


def test_p_zero_is_identity_in_train_mode():
    x, dout = torch.randn(20, 30, dtype=f64), torch.randn(20, 30, dtype=f64)
    out, cache = forward(x, p=0.0, seed=0)
    assert torch.equal(out, x)
    assert torch.equal(Dropout.backward(dout, cache), dout)


@pytest.mark.parametrize('p', [0.0, 0.5, 0.99])
def test_test_mode_is_identity(p):
    x, dout = torch.randn(4, 5, 6, dtype=f64), torch.randn(4, 5, 6, dtype=f64)
    out, cache = Dropout.forward(x, {'p': p, 'mode': 'test'})
    assert torch.equal(out, x)
    assert torch.equal(Dropout.backward(dout, cache), dout)


def test_backward_follows_forward_even_if_mode_changes_later():
    """The dict is shared (FullyConnectedNet reuses one); backward must use
    what forward did, not the current mode."""
    param = {'p': 0.5, 'mode': 'train', 'seed': 0}
    x = torch.ones(10, 10, dtype=f64)
    out, cache = Dropout.forward(x, param)
    param['mode'] = 'test'
    assert torch.equal(Dropout.backward(torch.ones_like(x), cache), out)


def test_does_not_modify_input():
    x = torch.randn(10, 10, dtype=f64)
    x_copy = x.clone()
    forward(x, p=0.5, seed=0)
    assert torch.equal(x, x_copy)


@pytest.mark.parametrize('p', [1.0, -0.1, 1.5])
def test_p_outside_range_raises(p):
    with pytest.raises(ValueError, match=r'p is the drop probability and must lie in \[0, 1\)'):
        forward(torch.ones(3, 3), p=p)


@pytest.mark.parametrize('mode', ['eval', 'TRAIN', None])
def test_unknown_mode_raises(mode):
    with pytest.raises(ValueError, match='Dropout.forward: unknown mode'):
        Dropout.forward(torch.ones(3, 3), {'p': 0.5, 'mode': mode})
