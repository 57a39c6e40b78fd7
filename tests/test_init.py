"""scratchnn.init: shapes, dtypes and the statistics of large draws against the
contract's formulas (fan_in = Din*K*K, fan_out = Dout*K*K)."""
import math

import pytest
import torch

from scratchnn import init

f64 = torch.float64

# (Din, Dout, K): linear layers and convolutions, with enough elements
# (>= ~200k) for the sample std to be within ~1% of the truth.
SHAPES = [(500, 400, None), (64, 3200, None), (32, 64, 11), (3, 800, 9)]


def fans(Din, Dout, K):
    k2 = 1 if K is None else K * K
    return Din * k2, Dout * k2


def expected_shape(Din, Dout, K):
    return (Din, Dout) if K is None else (Dout, Din, K, K)


def draw(fn, Din, Dout, K, **kw):
    torch.manual_seed(0)
    w = fn(Din, Dout, K, dtype=f64, **kw)
    assert w.shape == expected_shape(Din, Dout, K) and w.dtype == f64
    return w


def assert_uniform(w, a):
    """U(-a, a): bounds, mean 0, std a / sqrt(3), and flat quartiles."""
    n = w.numel()
    assert w.abs().max().item() <= a
    assert w.abs().max().item() > a * (1 - 1e-3)  # the whole range is used
    assert abs(w.mean().item()) < 5 * a / math.sqrt(3 * n)
    assert abs(w.std().item() / (a / math.sqrt(3)) - 1) < 0.01
    assert abs((w.abs() < a / 2).double().mean().item() - 0.5) < 0.01


def assert_normal(w, std):
    """N(0, std^2): mean 0, the std, and ~68.3% within one std."""
    n = w.numel()
    assert abs(w.mean().item()) < 5 * std / math.sqrt(n)
    assert abs(w.std().item() / std - 1) < 0.01
    assert abs((w.abs() < std).double().mean().item() - 0.6827) < 0.01


@pytest.mark.parametrize('Din, Dout, K', SHAPES)
@pytest.mark.parametrize('initializer, check, numerator, gain', [
    (init.xavier_uniform, assert_uniform, 6, 1.0), (init.xavier_uniform, assert_uniform, 6, 2.5),
    (init.xavier_normal, assert_normal, 2, 1.0), (init.xavier_normal, assert_normal, 2, 0.5)],
    ids=['uniform-1', 'uniform-2.5', 'normal-1', 'normal-0.5'])
def test_xavier(Din, Dout, K, initializer, check, numerator, gain):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)); N(0, std^2) with
    std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(Din, Dout, K)
    check(draw(initializer, Din, Dout, K, gain=gain), gain * math.sqrt(numerator / (fan_in + fan_out)))


@pytest.mark.parametrize('Din, Dout, K', SHAPES)
@pytest.mark.parametrize('relu', [True, False])
def test_kaiming_uniform(Din, Dout, K, relu):
    fan_in, _ = fans(Din, Dout, K)
    g = 2.0 if relu else 1.0
    assert_uniform(draw(init.kaiming_uniform, Din, Dout, K, relu=relu), math.sqrt(3 * g / fan_in))


@pytest.mark.parametrize('fn', [init.kaiming_normal, init.kaiming_initializer])
@pytest.mark.parametrize('Din, Dout, K', SHAPES)
@pytest.mark.parametrize('relu', [True, False])
def test_kaiming_normal(fn, Din, Dout, K, relu):
    fan_in, _ = fans(Din, Dout, K)
    g = 2.0 if relu else 1.0
    assert_normal(draw(fn, Din, Dout, K, relu=relu), math.sqrt(g / fan_in))


ALL = [init.xavier_uniform, init.xavier_normal, init.kaiming_uniform, init.kaiming_normal]


@pytest.mark.parametrize('fn', ALL)
def test_defaults_are_float32_cpu(fn):
    w = fn(4, 5)
    assert w.shape == (4, 5) and w.dtype == torch.float32 and w.device.type == 'cpu'


@pytest.mark.parametrize('fn', ALL)
def test_draws_follow_the_global_seed(fn):
    torch.manual_seed(1)
    a = fn(6, 7, 3)
    torch.manual_seed(1)
    b = fn(6, 7, 3)
    c = fn(6, 7, 3)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_fan_in_counts_the_kernel_area():
    """A (Dout, Din, K, K) kaiming draw has std sqrt(2 / (Din*K*K)), not sqrt(2 / Din)."""
    torch.manual_seed(0)
    w = init.kaiming_normal(16, 256, K=7, dtype=f64)
    assert abs(w.std().item() - math.sqrt(2 / (16 * 49))) < 0.02 * math.sqrt(2 / (16 * 49))
