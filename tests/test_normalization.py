"""scratchnn.normalization against torch autograd in float64."""
import pytest
import torch
import torch.nn.functional as F

from autograder.suites import oracles
from autograder.suites.checks import is_close
from autograder.suites.oracles import randn
from scratchnn import BatchNorm, GroupNorm, LayerNorm, SpatialBatchNorm

f64 = torch.float64


def affine(C, seed):
    """Non-trivial gamma and beta, so that a swapped or ignored one shows."""
    return 1 + 0.5 * randn(C, seed=seed), 0.5 * randn(C, seed=seed + 1)


def assert_grads(got, want):
    for g, w, name in zip(got, want, ('dx', 'dgamma', 'dbeta')):
        assert g.shape == w.shape, name
        assert is_close(g, w), name


# ---------------------------------------------------------------- BatchNorm

@pytest.mark.parametrize('backward', ['backward', 'backward_alt'])
@pytest.mark.parametrize('N, D, loc, scale', [(8, 5, 0.0, 1.0), (50, 3, 10.0, 4.0), (2, 7, -3.0, 0.1),
                                              (64, 16, 5.0, 1e-4)])
def test_batchnorm_train_matches_autograd(backward, N, D, loc, scale):
    x = loc + scale * randn(N, D, seed=N)
    gamma, beta = affine(D, seed=1)
    dout = randn(N, D, seed=3)
    out, cache = BatchNorm.forward(x, gamma, beta, {'mode': 'train'})
    ref, grads = oracles.autograd(oracles.batchnorm_train, [x, gamma, beta], dout)
    assert is_close(out, ref)
    assert_grads(getattr(BatchNorm, backward)(dout, cache), grads)


@pytest.mark.parametrize('backward', ['backward', 'backward_alt'])
def test_batchnorm_tiny_variance(backward):
    """Variance far below eps: eps dominates, and nothing divides by ~0."""
    x = 3.0 + 1e-6 * randn(10, 4, seed=1)
    x[:, 0] = 3.0  # exactly constant feature
    gamma, beta = affine(4, seed=2)
    dout = randn(10, 4, seed=3)
    out, cache = BatchNorm.forward(x, gamma, beta, {'mode': 'train', 'eps': 1e-5})
    ref, grads = oracles.autograd(oracles.batchnorm_train, [x, gamma, beta], dout)
    got = getattr(BatchNorm, backward)(dout, cache)
    assert torch.isfinite(out).all() and all(torch.isfinite(g).all() for g in got)
    assert is_close(out, ref)
    assert_grads(got, grads)


@pytest.mark.parametrize('eps', [1e-5, 1e-2, 1.0])
def test_batchnorm_uses_eps_from_bn_param(eps):
    x, (gamma, beta) = randn(6, 3, seed=1), affine(3, seed=2)
    out, _ = BatchNorm.forward(x, gamma, beta, {'mode': 'train', 'eps': eps})
    assert is_close(out, oracles.batchnorm_train(x, gamma, beta, eps=eps))


def test_batchnorm_running_stats_momentum_rule():
    """Biased variance, running = m * running + (1 - m) * batch, written back;
    missing statistics start at zeros."""
    D, momentum = 4, 0.7
    gamma, beta = affine(D, seed=0)
    bn_param = {'mode': 'train', 'momentum': momentum}
    mean_ref, var_ref = torch.zeros(D, dtype=f64), torch.zeros(D, dtype=f64)
    for step in range(5):
        x = 2.0 + 3.0 * randn(7, D, seed=step)
        BatchNorm.forward(x, gamma, beta, bn_param)
        mean_ref = momentum * mean_ref + (1 - momentum) * x.mean(0)
        var_ref = momentum * var_ref + (1 - momentum) * x.var(0, unbiased=False)
        assert is_close(bn_param['running_mean'], mean_ref)
        assert is_close(bn_param['running_var'], var_ref)


def test_batchnorm_default_momentum_is_0_9():
    x, (gamma, beta) = randn(9, 3, seed=1), affine(3, seed=2)
    running_mean, running_var = randn(3, seed=3), 1 + randn(3, seed=4).abs()
    bn_param = {'mode': 'train', 'running_mean': running_mean.clone(), 'running_var': running_var.clone()}
    BatchNorm.forward(x, gamma, beta, bn_param)
    assert is_close(bn_param['running_mean'], 0.9 * running_mean + 0.1 * x.mean(0))
    assert is_close(bn_param['running_var'], 0.9 * running_var + 0.1 * x.var(0, unbiased=False))


def test_batchnorm_test_mode_uses_running_stats_and_keeps_them():
    x, (gamma, beta) = randn(6, 3, seed=1), affine(3, seed=2)
    running_mean, running_var = randn(3, seed=3), 1 + randn(3, seed=4).abs()
    bn_param = {'mode': 'test', 'running_mean': running_mean.clone(),
                'running_var': running_var.clone(), 'eps': 1e-3}
    out, _ = BatchNorm.forward(x, gamma, beta, bn_param)
    ref = F.batch_norm(x, running_mean, running_var, gamma, beta, training=False, eps=1e-3)
    assert is_close(out, ref)
    assert torch.equal(bn_param['running_mean'], running_mean)
    assert torch.equal(bn_param['running_var'], running_var)


def test_batchnorm_test_mode_with_missing_stats_uses_zeros():
    x, (gamma, beta) = randn(5, 3, seed=1), affine(3, seed=2)
    out, _ = BatchNorm.forward(x, gamma, beta, {'mode': 'test', 'eps': 0.25})
    assert is_close(out, gamma * x / 0.5 + beta)


def test_batchnorm_running_stats_converge_to_data_stats():
    D = 3
    gamma, beta = affine(D, seed=0)
    bn_param = {'mode': 'train'}
    for step in range(200):
        BatchNorm.forward(4.0 + 2.0 * randn(64, D, seed=step), gamma, beta, bn_param)
    assert torch.allclose(bn_param['running_mean'], torch.full((D,), 4.0, dtype=f64), atol=0.2)
    assert torch.allclose(bn_param['running_var'], torch.full((D,), 4.0, dtype=f64), atol=0.5)


def test_batchnorm_does_not_modify_inputs():
    x, (gamma, beta) = randn(6, 3, seed=1), affine(3, seed=2)
    copies = [t.clone() for t in (x, gamma, beta)]
    out, cache = BatchNorm.forward(x, gamma, beta, {'mode': 'train'})
    BatchNorm.backward(torch.ones_like(out), cache)
    BatchNorm.backward_alt(torch.ones_like(out), cache)
    assert all(torch.equal(t, c) for t, c in zip((x, gamma, beta), copies))


# ---------------------------------------------------------------- SpatialBatchNorm

@pytest.mark.parametrize('shape', [(2, 3, 4, 5), (5, 1, 2, 2), (1, 4, 3, 3)])
def test_spatial_batchnorm_train_matches_autograd(shape):
    x = 1.0 + 2.0 * randn(*shape, seed=1)
    gamma, beta = affine(shape[1], seed=2)
    dout = randn(*shape, seed=3)
    bn_param = {'mode': 'train', 'momentum': 0.8}
    out, cache = SpatialBatchNorm.forward(x, gamma, beta, bn_param)
    ref, grads = oracles.autograd(oracles.batchnorm_train, [x, gamma, beta], dout)
    assert out.shape == shape and is_close(out, ref)
    assert_grads(SpatialBatchNorm.backward(dout, cache), grads)
    assert is_close(bn_param['running_mean'], 0.2 * x.mean(dim=(0, 2, 3)))
    assert is_close(bn_param['running_var'], 0.2 * x.var(dim=(0, 2, 3), unbiased=False))


def test_spatial_batchnorm_test_mode():
    shape = (3, 4, 2, 5)
    x, (gamma, beta) = randn(*shape, seed=1), affine(4, seed=2)
    running_mean, running_var = randn(4, seed=3), 1 + randn(4, seed=4).abs()
    bn_param = {'mode': 'test', 'running_mean': running_mean, 'running_var': running_var}
    out, _ = SpatialBatchNorm.forward(x, gamma, beta, bn_param)
    assert is_close(out, F.batch_norm(x, running_mean, running_var, gamma, beta, training=False))


# ---------------------------------------------------------------- LayerNorm

@pytest.mark.parametrize('N, D, scale', [(4, 6, 1.0), (1, 10, 3.0), (32, 2, 1e-4), (5, 100, 50.0)])
def test_layernorm_matches_autograd(N, D, scale):
    x = 2.0 + scale * randn(N, D, seed=N)
    gamma, beta = affine(D, seed=1)
    dout = randn(N, D, seed=2)
    out, cache = LayerNorm.forward(x, gamma, beta, {})
    ref, grads = oracles.autograd(oracles.layernorm, [x, gamma, beta], dout)
    assert is_close(out, ref)
    assert_grads(LayerNorm.backward(dout, cache), grads)


@pytest.mark.parametrize('eps', [1e-3, 1.0])
def test_layernorm_uses_eps(eps):
    x, (gamma, beta) = randn(3, 4, seed=1), affine(4, seed=2)
    out, _ = LayerNorm.forward(x, gamma, beta, {'eps': eps})
    assert is_close(out, oracles.layernorm(x, gamma, beta, eps=eps))


def test_layernorm_ignores_mode():
    x, (gamma, beta) = randn(3, 4, seed=1), affine(4, seed=2)
    train, _ = LayerNorm.forward(x, gamma, beta, {'mode': 'train'})
    test, _ = LayerNorm.forward(x, gamma, beta, {'mode': 'test'})
    assert torch.equal(train, test)


# ---------------------------------------------------------------- GroupNorm

@pytest.mark.parametrize('shape, G', [((2, 6, 4, 5), 3), ((3, 4, 2, 2), 1), ((2, 4, 3, 3), 4),
                                      ((1, 8, 5, 1), 2)])
def test_groupnorm_matches_autograd(shape, G):
    x = -1.0 + 3.0 * randn(*shape, seed=1)
    gamma, beta = affine(shape[1], seed=2)
    dout = randn(*shape, seed=3)
    out, cache = GroupNorm.forward(x, gamma, beta, G, {})
    ref, grads = oracles.autograd(lambda x, g, b: oracles.groupnorm(x, g, b, G), [x, gamma, beta], dout)
    assert out.shape == shape and is_close(out, ref)
    assert_grads(GroupNorm.backward(dout, cache), grads)


def test_groupnorm_uses_eps():
    x, (gamma, beta) = randn(2, 4, 3, 3, seed=1), affine(4, seed=2)
    out, _ = GroupNorm.forward(x, gamma, beta, 2, {'eps': 0.5})
    assert is_close(out, oracles.groupnorm(x, gamma, beta, 2, eps=0.5))


# ---------------------------------------------------------------- bad arguments

def test_batchnorm_unknown_mode_raises():
    x, (gamma, beta) = randn(4, 3, seed=1), affine(3, seed=2)
    with pytest.raises(ValueError, match="unknown mode 'eval'"):
        BatchNorm.forward(x, gamma, beta, {'mode': 'eval'})
    with pytest.raises(ValueError, match="unknown mode 'Train'"):
        SpatialBatchNorm.forward(x.reshape(4, 3, 1, 1), gamma, beta, {'mode': 'Train'})


@pytest.mark.parametrize('call, message', [
    (lambda: BatchNorm.forward(torch.zeros(4, 3), torch.ones(4), torch.zeros(3), {'mode': 'train'}),
     r'gamma must have shape \(3,\), got \(4,\)'),
    (lambda: BatchNorm.forward(torch.zeros(4, 3), torch.ones(3), torch.zeros(2), {'mode': 'train'}),
     r'beta must have shape \(3,\), got \(2,\)'),
    (lambda: BatchNorm.forward(torch.zeros(4, 3, 2), torch.ones(3), torch.zeros(3), {'mode': 'train'}),
     r'x must have 2 dimensions, got shape \(4, 3, 2\)'),
    (lambda: SpatialBatchNorm.forward(torch.zeros(4, 3), torch.ones(3), torch.zeros(3), {'mode': 'train'}),
     r'x must have 4 dimensions'),
    (lambda: LayerNorm.forward(torch.zeros(4, 3), torch.ones(4), torch.zeros(4), {}),
     r'gamma must have shape \(3,\)'),
    (lambda: GroupNorm.forward(torch.zeros(2, 6, 2, 2), torch.ones(6), torch.zeros(6), 4, {}),
     r'6 channels cannot be split into G=4'),
    (lambda: GroupNorm.forward(torch.zeros(2, 6, 2, 2), torch.ones(6), torch.zeros(6), 0, {}),
     r'G=0'),
    (lambda: GroupNorm.forward(torch.zeros(2, 6, 2), torch.ones(6), torch.zeros(6), 2, {}),
     r'x must have 4 dimensions'),
])
def test_normalization_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
