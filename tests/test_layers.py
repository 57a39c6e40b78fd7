"""scratchnn.layers against torch autograd in float64."""
import pytest
import torch
import torch.nn.functional as F

from autograder.suites import oracles
from autograder.suites.checks import is_close, rel_error
from autograder.suites.oracles import randn
from scratchnn import Dropout, FullyConnectedNet, Linear, Linear_ReLU, ReLU, softmax_loss

f64 = torch.float64
TOL = 1e-10


# ---------------------------------------------------------------- Linear, ReLU

@pytest.mark.parametrize('x_shape, M', [((5, 7), 3), ((4, 2, 3), 6), ((2, 3, 4, 5), 10), ((1, 1), 1)])
def test_linear_matches_autograd(x_shape, M):
    x, D = randn(*x_shape, seed=1), torch.Size(x_shape[1:]).numel()
    w, b, dout = randn(D, M, seed=2), randn(M, seed=3), randn(x_shape[0], M, seed=4)
    out, cache = Linear.forward(x, w, b)
    ref, (gx, gw, gb) = oracles.autograd(oracles.linear, [x, w, b], dout)
    dx, dw, db = Linear.backward(dout, cache)
    assert out.shape == (x_shape[0], M) and dx.shape == x.shape
    for got, want in [(out, ref), (dx, gx), (dw, gw), (db, gb)]:
        assert rel_error(got, want) < TOL


def test_linear_does_not_modify_inputs():
    x, w, b = randn(3, 4, seed=1), randn(4, 2, seed=2), randn(2, seed=3)
    copies = [t.clone() for t in (x, w, b)]
    out, cache = Linear.forward(x, w, b)
    Linear.backward(torch.ones_like(out), cache)
    assert all(torch.equal(t, c) for t, c in zip((x, w, b), copies))


@pytest.mark.parametrize('shape', [(6,), (4, 5), (2, 3, 4, 5)])
def test_relu_matches_autograd(shape):
    x, dout = randn(*shape, seed=1), randn(*shape, seed=2)
    out, cache = ReLU.forward(x)
    ref, (gx,) = oracles.autograd(F.relu, [x], dout)
    assert torch.equal(out, ref)
    assert torch.equal(ReLU.backward(dout, cache), gx)


def test_relu_gradient_at_zero_is_zero():
    x = torch.tensor([-1.0, 0.0, 2.0], dtype=f64)
    _, cache = ReLU.forward(x)
    assert ReLU.backward(torch.ones_like(x), cache).tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize('x_shape', [(5, 7), (3, 2, 2, 2)])
def test_linear_relu_matches_autograd(x_shape):
    D = torch.Size(x_shape[1:]).numel()
    x, w, b, dout = randn(*x_shape, seed=1), randn(D, 4, seed=2), randn(4, seed=3), randn(x_shape[0], 4, seed=4)
    out, cache = Linear_ReLU.forward(x, w, b)
    ref, grads = oracles.autograd(lambda x, w, b: F.relu(oracles.linear(x, w, b)), [x, w, b], dout)
    assert rel_error(out, ref) < TOL
    for got, want in zip(Linear_ReLU.backward(dout, cache), grads):
        assert got.shape == want.shape and rel_error(got, want) < TOL


# ---------------------------------------------------------------- softmax loss

@pytest.mark.parametrize('N, C, scale', [(10, 3, 1.0), (50, 10, 5.0), (1, 2, 1.0), (8, 100, 0.01)])
def test_softmax_loss_matches_cross_entropy(N, C, scale):
    x = scale * randn(N, C, seed=N)
    y = torch.randint(C, (N,), generator=torch.Generator().manual_seed(C))
    loss, dx = softmax_loss(x, y)
    ref, (gx,) = oracles.autograd(lambda s: oracles.softmax_loss(s, y), [x])
    assert loss.dim() == 0 and dx.shape == x.shape
    assert abs(loss.item() - ref.item()) < TOL * max(1.0, ref.item())
    assert rel_error(dx, gx) < TOL


def test_softmax_loss_is_stable_for_huge_scores():
    x = torch.tensor([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 999.0]], dtype=f64)
    y = torch.tensor([1, 2])
    loss, dx = softmax_loss(x, y)
    ref, (gx,) = oracles.autograd(lambda s: oracles.softmax_loss(s, y), [x])
    assert torch.isfinite(loss) and torch.isfinite(dx).all()
    assert abs(loss.item() - ref.item()) < 1e-9 * ref.item()
    assert rel_error(dx, gx) < TOL


@pytest.mark.parametrize('dtype', [torch.int32, torch.uint8, torch.int16])
def test_softmax_loss_accepts_any_integer_labels(dtype):
    x, y = randn(4, 3, seed=1), torch.tensor([0, 2, 1, 2])
    loss, dx = softmax_loss(x, y.to(dtype))
    ref, (gx,) = oracles.autograd(lambda s: oracles.softmax_loss(s, y), [x])
    assert abs(loss.item() - ref.item()) < TOL and rel_error(dx, gx) < TOL


# ---------------------------------------------------------------- FullyConnectedNet

def net_params_as_leaves(net):
    return {k: v.detach().clone().requires_grad_(True) for k, v in net.params.items()}


@pytest.mark.parametrize('hidden, normalization', [
    ([7], None), ([6, 5], 'batchnorm'), ([6, 5, 4], 'layernorm'), ([], None)])
def test_fc_net_params_names_shapes_and_init(hidden, normalization):
    net = FullyConnectedNet(hidden, input_dim=9, num_classes=3, normalization=normalization,
                            weight_scale=0.5, seed=0, dtype=f64)
    dims = [9, *hidden, 3]
    expected = {}
    for i in range(1, len(dims)):
        expected[f'W{i}'], expected[f'b{i}'] = (dims[i - 1], dims[i]), (dims[i],)
        if normalization and i < len(dims) - 1:
            expected[f'gamma{i}'] = expected[f'beta{i}'] = (dims[i],)
    assert {k: tuple(v.shape) for k, v in net.params.items()} == expected
    assert all(v.dtype == f64 for v in net.params.values())
    for name, p in net.params.items():
        if name.startswith('b') or name.startswith('beta'):
            assert torch.equal(p, torch.zeros_like(p)), name
        elif name.startswith('gamma'):
            assert torch.equal(p, torch.ones_like(p)), name
        else:
            assert p.std().item() > 0, name


def test_fc_net_weight_scale_is_the_std():
    net = FullyConnectedNet([400], input_dim=500, weight_scale=0.03, seed=0, dtype=f64)
    assert abs(net.params['W1'].std().item() - 0.03) < 0.03 * 0.02
    assert abs(net.params['W1'].mean().item()) < 0.03 * 0.02


@pytest.mark.parametrize('scheme, relu_gain', [('xavier', None), ('kaiming', 2.0)])
def test_fc_net_named_inits(scheme, relu_gain):
    net = FullyConnectedNet([300], input_dim=600, num_classes=100, weight_scale=scheme, seed=0, dtype=f64)
    std = net.params['W1'].std().item()
    expected = (2 / (600 + 300)) ** 0.5 if scheme == 'xavier' else (relu_gain / 600) ** 0.5
    assert abs(std - expected) < 0.02 * expected


def test_fc_net_seed_makes_init_repeatable():
    a = FullyConnectedNet([5], input_dim=4, seed=3, dtype=f64).params
    b = FullyConnectedNet([5], input_dim=4, seed=3, dtype=f64).params
    c = FullyConnectedNet([5], input_dim=4, seed=4, dtype=f64).params
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a['W1'], c['W1'])


@pytest.mark.parametrize('hidden, normalization, reg', [
    ([6], None, 0.0), ([6, 5], None, 0.7), ([6, 5], 'batchnorm', 0.0), ([5, 4, 6], 'batchnorm', 0.3),
    ([6, 5], 'layernorm', 0.0), ([4, 5], 'layernorm', 1.1), ([], None, 0.2)])
def test_fc_net_loss_and_grads_match_autograd(hidden, normalization, reg):
    N, D, C = 8, 3 * 2 * 2, 4
    X, y = randn(N, 3, 2, 2, seed=1), torch.randint(C, (N,), generator=torch.Generator().manual_seed(2))
    net = FullyConnectedNet(hidden, input_dim=D, num_classes=C, normalization=normalization,
                            reg=reg, weight_scale=0.8, seed=0, dtype=f64)
    # Non-trivial gamma/beta so that their gradients and effects are visible.
    for k in net.params:
        if k.startswith('gamma') or k.startswith('beta'):
            net.params[k] = net.params[k] + 0.3 * randn(*net.params[k].shape, seed=len(k))
    loss, grads = net.loss(X, y)
    leaves = net_params_as_leaves(net)
    ref = oracles.fc_net_loss(leaves, X, y, len(hidden) + 1, normalization, reg)
    ref_grads = dict(zip(leaves, torch.autograd.grad(ref, list(leaves.values()))))
    assert abs(loss.item() - ref.item()) < 1e-10 * ref.item()
    assert set(grads) == set(net.params)
    for k in net.params:
        assert grads[k].shape == net.params[k].shape
        assert is_close(grads[k], ref_grads[k]), k


def test_fc_net_scores_without_labels():
    N, D, C = 5, 6, 3
    X = randn(N, D, seed=1)
    net = FullyConnectedNet([4, 4], input_dim=D, num_classes=C, weight_scale=1.0, seed=0, dtype=f64)
    with torch.no_grad():
        h = F.relu(oracles.linear(F.relu(oracles.linear(X, net.params['W1'], net.params['b1'])),
                                  net.params['W2'], net.params['b2']))
        ref = oracles.linear(h, net.params['W3'], net.params['b3'])
    assert rel_error(net.loss(X), ref) < TOL


def test_fc_net_batchnorm_test_mode_uses_running_stats():
    N, D = 20, 5
    X, y = randn(N, D, seed=1), torch.randint(3, (N,), generator=torch.Generator().manual_seed(0))
    net = FullyConnectedNet([4], input_dim=D, num_classes=3, normalization='batchnorm',
                            weight_scale=1.0, seed=0, dtype=f64)
    net.loss(X, y)  # one train step fills the running statistics
    h = oracles.linear(X, net.params['W1'], net.params['b1'])
    mean, var = 0.1 * h.mean(0), 0.1 * h.var(0, unbiased=False)  # momentum 0.9 from zeros
    h = F.relu(F.batch_norm(h, mean, var, net.params['gamma1'], net.params['beta1'], training=False))
    ref = oracles.linear(h, net.params['W2'], net.params['b2'])
    assert rel_error(net.loss(X), ref) < TOL


@pytest.mark.parametrize('p', [0.25, 0.6])
def test_fc_net_dropout_with_seed_matches_autograd(p):
    N, D, C, hidden = 16, 6, 3, [30, 20]
    X, y = randn(N, D, seed=1), torch.randint(C, (N,), generator=torch.Generator().manual_seed(0))
    net = FullyConnectedNet(hidden, input_dim=D, num_classes=C, dropout=p, weight_scale=0.5,
                            seed=5, dtype=f64)
    loss, grads = net.loss(X, y)
    assert loss.item() == net.loss(X, y)[0].item()  # the seed fixes the masks

    # With the seed reset before every draw, the mask of a layer is what
    # Dropout (tested on its own in test_dropout.py) draws for that shape.
    masks = [Dropout.forward(torch.ones(N, H, dtype=f64), {'p': p, 'mode': 'train', 'seed': 5})[0]
             for H in hidden]
    assert all(((m == 0) | (m == 1 / (1 - p))).all() and (m == 0).any() for m in masks)
    leaves = net_params_as_leaves(net)
    ref = oracles.fc_net_loss(leaves, X, y, len(hidden) + 1, masks=masks)
    ref_grads = dict(zip(leaves, torch.autograd.grad(ref, list(leaves.values()))))
    assert abs(loss.item() - ref.item()) < 1e-10 * ref.item()
    for k in net.params:
        assert is_close(grads[k], ref_grads[k]), k

    # Test mode ignores dropout: the scores equal those of the same net without it.
    plain = FullyConnectedNet(hidden, input_dim=D, num_classes=C, weight_scale=0.5, seed=5, dtype=f64)
    assert all(torch.equal(plain.params[k], net.params[k]) for k in net.params)
    assert loss.item() != plain.loss(X, y)[0].item()
    assert rel_error(net.loss(X), plain.loss(X)) < TOL


@pytest.mark.parametrize('p', [0.3])
def test_fc_net_dropout_grads_consistent_with_its_own_masks(p):
    """Mask-agnostic: with the seed fixing the masks, the analytic gradient must
    equal a central difference of the net's own loss."""
    N, D, C = 6, 5, 3
    X, y = randn(N, D, seed=1), torch.randint(C, (N,), generator=torch.Generator().manual_seed(0))
    net = FullyConnectedNet([7, 6], input_dim=D, num_classes=C, dropout=p, weight_scale=0.5,
                            seed=2, dtype=f64)
    _, grads = net.loss(X, y)
    for name in ('W1', 'b2', 'W3'):
        w = net.params[name]
        u = randn(*w.shape, seed=9)
        h = 1e-6
        net.params[name] = w + h * u
        plus = net.loss(X, y)[0].item()
        net.params[name] = w - h * u
        minus = net.loss(X, y)[0].item()
        net.params[name] = w
        numeric, analytic = (plus - minus) / (2 * h), (grads[name] * u).sum().item()
        assert abs(numeric - analytic) < 1e-6 * max(1.0, abs(analytic)), name


# ---------------------------------------------------------------- bad arguments

@pytest.mark.parametrize('x, w, b, message', [
    (torch.zeros(4, 5), torch.zeros(6, 3), torch.zeros(3), r'x has 5 features.*w has shape \(6, 3\)'),
    (torch.zeros(4, 5), torch.zeros(5, 3), torch.zeros(4), r'b must have shape \(3,\)'),
    (torch.zeros(4, 5), torch.zeros(5), torch.zeros(3), r'w must have 2 dimensions'),
    ([[1.0]], torch.zeros(1, 1), torch.zeros(1), r'x must be a torch.Tensor'),
])
def test_linear_bad_arguments(x, w, b, message):
    with pytest.raises((ValueError, TypeError), match=message):
        Linear.forward(x, w, b)


@pytest.mark.parametrize('x, y, error, message', [
    (torch.zeros(3, 4), torch.tensor([0.0, 1.0, 2.0]), TypeError, 'integer class labels'),
    (torch.zeros(3, 4), torch.tensor([True, False, True]), TypeError, 'integer class labels'),
    (torch.zeros(3, 4), torch.tensor([0, 1]), ValueError, '2 labels but the scores have 3 rows'),
    (torch.zeros(3, 4), torch.tensor([0, 1, 4]), ValueError, r'labels must lie in \[0, 4\)'),
    (torch.zeros(3, 4), torch.tensor([-1, 1, 2]), ValueError, r'labels must lie in \[0, 4\)'),
    (torch.zeros(3, 4), torch.tensor([[0, 1, 2]]), ValueError, 'y must have 1 dimensions'),
    (torch.zeros(12), torch.tensor([0]), ValueError, 'x must have 2 dimensions'),
])
def test_softmax_loss_bad_arguments(x, y, error, message):
    with pytest.raises(error, match=message):
        softmax_loss(x, y)


@pytest.mark.parametrize('kwargs, message', [
    ({'normalization': 'groupnorm'}, "unknown normalization 'groupnorm'"),
    ({'dropout': 1.0}, r'dropout must lie in \[0, 1\)'),
    ({'dropout': -0.1}, r'dropout must lie in \[0, 1\)'),
    ({'weight_scale': 'he'}, "unknown weight_scale 'he'"),
])
def test_fc_net_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FullyConnectedNet([3], input_dim=4, **kwargs)
