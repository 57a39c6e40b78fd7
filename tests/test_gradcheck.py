"""Every backward against central differences, with scratchnn.gradcheck; and
the gradient-checking tools themselves against autograd.

Each case builds a forward f(input) that closes over the other arguments, the
analytic gradient from the layer's backward, and checks it twice: along random
directions (check_gradient, cheap) and element by element (numeric_gradient).
"""
import pytest
import torch

from autograder.suites import oracles
from autograder.suites.checks import rel_error as trusted_rel_error
from autograder.suites.oracles import randn
from scratchnn import (BatchNorm, Conv, Dropout, GroupNorm, LayerNorm, Linear, Linear_ReLU,
                       MaxPool, ReLU, SpatialBatchNorm, check_gradient, numeric_gradient,
                       rel_error, softmax_loss)

f64 = torch.float64


def linear_case():
    x, w, b = randn(4, 3, 2, seed=1), randn(6, 5, seed=2), randn(5, seed=3)
    return [x, w, b], lambda x, w, b: Linear.forward(x, w, b), Linear.backward


def linear_relu_case():
    x, w, b = randn(5, 4, seed=1), randn(4, 6, seed=2), randn(6, seed=3)
    return [x, w, b], lambda x, w, b: Linear_ReLU.forward(x, w, b), Linear_ReLU.backward


def relu_case():
    x = randn(4, 5, seed=1)
    x = x + 0.1 * x.sign()  # keep clear of the kink at 0, where h could cross it
    return [x], ReLU.forward, lambda d, c: (ReLU.backward(d, c),)


def batchnorm_case(backward):
    x, gamma, beta = 2 + randn(6, 4, seed=1), 1 + randn(4, seed=2), randn(4, seed=3)
    return ([x, gamma, beta], lambda x, g, b: BatchNorm.forward(x, g, b, {'mode': 'train'}),
            getattr(BatchNorm, backward))


def spatial_batchnorm_case():
    x, gamma, beta = randn(3, 2, 3, 2, seed=1), 1 + randn(2, seed=2), randn(2, seed=3)
    return ([x, gamma, beta], lambda x, g, b: SpatialBatchNorm.forward(x, g, b, {'mode': 'train'}),
            SpatialBatchNorm.backward)


def layernorm_case():
    x, gamma, beta = randn(4, 6, seed=1), 1 + randn(6, seed=2), randn(6, seed=3)
    return [x, gamma, beta], lambda x, g, b: LayerNorm.forward(x, g, b, {}), LayerNorm.backward


def groupnorm_case():
    x, gamma, beta = randn(2, 6, 2, 3, seed=1), 1 + randn(6, seed=2), randn(6, seed=3)
    return [x, gamma, beta], lambda x, g, b: GroupNorm.forward(x, g, b, 3, {}), GroupNorm.backward


def dropout_case():
    # The seed redraws the same mask on every call of f.
    x = randn(5, 7, seed=1)
    return ([x], lambda x: Dropout.forward(x, {'p': 0.4, 'mode': 'train', 'seed': 3}),
            lambda d, c: (Dropout.backward(d, c),))


def conv_case():
    x, w, b = randn(2, 3, 5, 5, seed=1), randn(4, 3, 3, 3, seed=2), randn(4, seed=3)
    return ([x, w, b], lambda x, w, b: Conv.forward(x, w, b, {'stride': 2, 'pad': 1}),
            Conv.backward)


def maxpool_case():
    # Distinct values, so that no window has a tie that h could flip.
    x = torch.randperm(2 * 2 * 5 * 5, generator=torch.Generator().manual_seed(1)).to(f64)
    x = x.reshape(2, 2, 5, 5) / 10
    return ([x], lambda x: MaxPool.forward(x, {'pool_height': 3, 'pool_width': 3, 'stride': 1}),
            lambda d, c: (MaxPool.backward(d, c),))


CASES = {
    'Linear': linear_case, 'Linear_ReLU': linear_relu_case, 'ReLU': relu_case,
    'BatchNorm.backward': lambda: batchnorm_case('backward'),
    'BatchNorm.backward_alt': lambda: batchnorm_case('backward_alt'),
    'SpatialBatchNorm': spatial_batchnorm_case, 'LayerNorm': layernorm_case,
    'GroupNorm': groupnorm_case, 'Dropout': dropout_case, 'Conv': conv_case,
    'MaxPool': maxpool_case,
}


@pytest.mark.parametrize('case', list(CASES))
def test_backward_against_numeric_gradients(case):
    inputs, forward, backward = CASES[case]()
    out, cache = forward(*inputs)
    dout = randn(*out.shape, seed=9)
    grads = backward(dout, cache)
    assert len(grads) == len(inputs)
    for i, (x, dx) in enumerate(zip(inputs, grads)):
        def f(t, i=i):
            args = list(inputs)
            args[i] = t
            return forward(*args)[0]
        assert check_gradient(f, x, dx, dout) < 1e-7, f"input {i}"
        assert rel_error(numeric_gradient(f, x, dout), dx) < 1e-7, f"input {i}"


@pytest.mark.parametrize('N, C, scale', [(5, 4, 1.0), (3, 10, 10.0)])
def test_softmax_loss_against_numeric_gradients(N, C, scale):
    x = scale * randn(N, C, seed=1)
    y = torch.randint(C, (N,), generator=torch.Generator().manual_seed(2))
    _, dx = softmax_loss(x, y)
    f = lambda s: softmax_loss(s, y)[0]
    assert check_gradient(f, x, dx) < 1e-7
    assert rel_error(numeric_gradient(f, x), dx) < 1e-7


@pytest.mark.parametrize('normalization, dropout', [(None, 0.0), ('batchnorm', 0.0), ('layernorm', 0.3)])
def test_fc_net_against_numeric_gradients(normalization, dropout):
    from scratchnn import FullyConnectedNet
    X = randn(6, 5, seed=1)
    y = torch.randint(3, (6,), generator=torch.Generator().manual_seed(2))
    net = FullyConnectedNet([4, 5], input_dim=5, num_classes=3, normalization=normalization,
                            dropout=dropout, reg=0.1, weight_scale=0.7, seed=0, dtype=f64)
    _, grads = net.loss(X, y)
    for name, w in list(net.params.items()):
        def f(t, name=name, w=w):
            net.params[name] = t
            loss = net.loss(X, y)[0]
            net.params[name] = w
            return loss
        if normalization == 'batchnorm' and name in ('b1', 'b2'):
            # A bias right before BatchNorm is subtracted out with the mean.
            assert grads[name].abs().max() < 1e-12 and abs(numeric_gradient(f, w)).max() < 1e-8
            continue
        assert check_gradient(f, w, grads[name]) < 1e-7, name


# ---------------------------------------------------------------- the tools themselves

@pytest.mark.parametrize('shape', [(7,), (3, 4), (2, 3, 2)])
def test_numeric_gradient_matches_autograd(shape):
    fn = lambda t: torch.sin(t) * t.sum() + t ** 3
    x, dout = randn(*shape, seed=1), randn(*shape, seed=2)
    _, (gx,) = oracles.autograd(fn, [x], dout)
    assert trusted_rel_error(numeric_gradient(fn, x, dout), gx) < 1e-8


def test_numeric_gradient_leaves_x_alone_and_handles_noncontiguous_x():
    x = randn(4, 3, seed=1).T  # a transposed view
    x_copy = x.clone()
    grad = numeric_gradient(lambda t: (t * t).sum(), x)
    assert torch.equal(x, x_copy)
    assert trusted_rel_error(grad, 2 * x) < 1e-8


def test_numeric_gradient_scalar_output_without_dout():
    x = randn(5, seed=1)
    assert trusted_rel_error(numeric_gradient(lambda t: (t ** 2).sum(), x), 2 * x) < 1e-8


def test_check_gradient_accepts_right_and_rejects_wrong_gradients():
    x, dout = randn(6, 4, seed=1), randn(6, 4, seed=2)
    fn = lambda t: torch.tanh(t) * 3
    _, (gx,) = oracles.autograd(fn, [x], dout)
    assert check_gradient(fn, x, gx, dout) < 1e-8
    wrong = gx.clone()
    wrong[2, 1] += 0.05  # one element off
    assert check_gradient(fn, x, wrong, dout) > 1e-4
    assert check_gradient(fn, x, 2 * gx, dout) > 0.1


def test_check_gradient_leaves_the_global_rng_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    x = randn(3, 3, seed=1)
    check_gradient(lambda t: t * 2, x, 2 * torch.ones_like(x))
    assert torch.equal(torch.rand(3), expected)


def test_check_gradient_costs_two_calls_per_direction():
    calls = []
    x = randn(50, 50, seed=1)

    def f(t):
        calls.append(1)
        return t * 2
    check_gradient(f, x, 2 * torch.ones_like(x), num_directions=5)
    assert len(calls) == 10


def test_check_gradient_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r'dx has shape \(3,\), x has \(2, 3\)'):
        check_gradient(lambda t: t, randn(2, 3, seed=0), randn(3, seed=0))


def test_rel_error():
    a = torch.tensor([1.0, 2.0, 2.0], dtype=f64)
    assert rel_error(a, a) == 0.0
    assert rel_error(torch.zeros(3), torch.zeros(3)) == 0.0
    assert abs(rel_error(a, -a) - 1.0) < 1e-15
    b = torch.tensor([1.0, 2.0, 2.3], dtype=f64)
    assert abs(rel_error(a, b) - 0.3 / (3 + 10.29 ** 0.5)) < 1e-12
    with pytest.raises(ValueError, match='shapes differ'):
        rel_error(torch.zeros(3), torch.zeros(4))
