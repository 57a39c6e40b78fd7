"""Hidden tests of scratchnn/layers.py: Linear, ReLU, Linear_ReLU, softmax_loss,
FullyConnectedNet. Student code is reached only through the `student` fixture.
"""
import math

import pytest
import torch

from autograder.suites import oracles as O
from autograder.suites.oracles import check, expect_close, expect_tensor

F64 = torch.float64
# (x shape, M): non-square weights, a single example, a 4-D input.
LINEAR_CASES = [((4, 5), 3), ((2, 3, 4, 5), 7), ((1, 6), 1), ((10, 3), 8)]


def linear_inputs(x_shape, M, seed, dtype=F64):
    D = math.prod(x_shape[1:])
    return (O.randn(*x_shape, seed=seed, dtype=dtype), O.randn(D, M, seed=seed + 1, dtype=dtype),
            O.randn(M, seed=seed + 2, dtype=dtype))


def relu_input(shape, seed):
    """Values away from the kink, plus some exact zeros (dx must be 0 there)."""
    x = O.randn(*shape, seed=seed)
    x = x + 0.1 * torch.sign(x)
    x.view(-1)[::5] = 0.0
    return x


# ------------------------------------------------------------------ Linear

@pytest.mark.item('linear_forward')
def test_linear_forward_values(student):
    for k, (shape, M) in enumerate(LINEAR_CASES):
        x, w, b = linear_inputs(shape, M, seed=10 * k)
        out, _, res = O.forward(student, 'layers.Linear.forward', x, w, b)
        expect_close(out, O.linear(x, w, b), f"Linear.forward: out for x of shape {shape}")
        for name, before, after in zip('xwb', (x, w, b), res.args):
            O.expect_unchanged(after, before, f"Linear.forward: {name}")


@pytest.mark.item('linear_forward')
def test_linear_forward_dtype_and_device(student):
    x, w, b = linear_inputs((3, 2, 2), 5, seed=1, dtype=torch.float32)
    out, _, _ = O.forward(student, 'layers.Linear.forward', x, w, b)
    expect_tensor(out, "Linear.forward: out for float32 inputs", shape=(3, 5), dtype=torch.float32)
    expect_close(out, O.linear(x.double(), w.double(), b.double()),
                 "Linear.forward: out for float32 inputs", tol=1e-5)
    for device in O.extra_devices():
        xd, wd, bd = (t.to(device) for t in linear_inputs((3, 2, 2), 5, seed=1))
        out, _, _ = O.forward(student, 'layers.Linear.forward', xd, wd, bd)
        expect_tensor(out, f"Linear.forward: out for {device} inputs", shape=(3, 5), device=device)


@pytest.mark.item('linear_backward')
def test_linear_backward_matches_autograd(student):
    for k, (shape, M) in enumerate(LINEAR_CASES):
        x, w, b = linear_inputs(shape, M, seed=10 * k + 3)
        dout = O.randn(shape[0], M, seed=10 * k + 7)
        _, cache, _ = O.forward(student, 'layers.Linear.forward', x, w, b)
        dx, dw, db = O.backward(student, 'layers.Linear.backward', dout, cache)
        _, want = O.autograd(O.linear, [x, w, b], dout)
        expect_close(dx, want[0], f"Linear.backward: dx for x of shape {shape}")
        expect_close(dw, want[1], f"Linear.backward: dw for a {tuple(w.shape)} weight")
        expect_close(db, want[2], f"Linear.backward: db for a {tuple(b.shape)} bias")


@pytest.mark.item('linear_backward')
def test_linear_backward_numeric_gradient(student):
    x, w, b = linear_inputs((3, 2, 4), 5, seed=21)
    dout = O.randn(3, 5, seed=22)
    _, cache, _ = O.forward(student, 'layers.Linear.forward', x, w, b)
    grads = O.backward(student, 'layers.Linear.backward', dout, cache)
    fwd = lambda inputs: O.forward(student, 'layers.Linear.forward', *inputs)[0]  # noqa: E731
    O.directional_check(fwd, [x, w, b], grads, dout, 'xwb', 'Linear.backward')


@pytest.mark.item('linear_backward')
def test_linear_backward_dtype_and_device(student):
    cases = [('cpu', torch.float32)] + [(d, F64) for d in O.extra_devices()]
    for device, dtype in cases:
        x, w, b = (t.to(device) for t in linear_inputs((3, 2, 2), 5, seed=4, dtype=dtype))
        dout = O.randn(3, 5, seed=5, dtype=dtype).to(device)
        _, cache, _ = O.forward(student, 'layers.Linear.forward', x, w, b)
        grads = O.backward(student, 'layers.Linear.backward', dout, cache)
        for name, g, t in zip('xwb', grads, (x, w, b)):
            expect_tensor(g, f"Linear.backward: d{name} for {dtype} inputs on {device}",
                          shape=t.shape, dtype=dtype, device=device)


# ------------------------------------------------------------------ ReLU

@pytest.mark.item('relu_forward')
def test_relu_forward_values(student):
    for k, shape in enumerate([(4, 5), (2, 3, 4, 5), (7,)]):
        x = relu_input(shape, seed=30 + k)
        out, _, res = O.forward(student, 'layers.ReLU.forward', x)
        expect_close(out, x.clamp(min=0), f"ReLU.forward: out for x of shape {shape}")
        O.expect_unchanged(res.args[0], x, "ReLU.forward: x")


@pytest.mark.item('relu_forward')
def test_relu_forward_dtype_and_device(student):
    cases = [('cpu', torch.float32)] + [(d, F64) for d in O.extra_devices()]
    for device, dtype in cases:
        x = relu_input((3, 4), seed=3).to(device=device, dtype=dtype)
        out, _, _ = O.forward(student, 'layers.ReLU.forward', x)
        expect_tensor(out, f"ReLU.forward: out for {dtype} input on {device}", shape=(3, 4),
                      dtype=dtype, device=device)


@pytest.mark.item('relu_backward')
def test_relu_backward_values(student):
    for k, shape in enumerate([(4, 5), (2, 3, 4, 5)]):
        x = relu_input(shape, seed=40 + k)
        dout = O.randn(*shape, seed=45 + k)
        _, cache, _ = O.forward(student, 'layers.ReLU.forward', x)
        dx = O.backward(student, 'layers.ReLU.backward', dout, cache, n=1)
        # dout where x > 0, else 0 (also where x == 0).
        expect_close(dx, dout * (x > 0), f"ReLU.backward: dx for x of shape {shape}")


@pytest.mark.item('relu_backward')
def test_relu_backward_numeric_gradient_dtype_and_device(student):
    x = O.randn(3, 4, seed=50)
    x = x + 0.1 * torch.sign(x)
    dout = O.randn(3, 4, seed=51)
    _, cache, _ = O.forward(student, 'layers.ReLU.forward', x)
    dx = O.backward(student, 'layers.ReLU.backward', dout, cache, n=1)
    fwd = lambda inputs: O.forward(student, 'layers.ReLU.forward', *inputs)[0]  # noqa: E731
    O.directional_check(fwd, [x], [dx], dout, ['x'], 'ReLU.backward')
    cases = [('cpu', torch.float32)] + [(d, F64) for d in O.extra_devices()]
    for device, dtype in cases:
        _, cache, _ = O.forward(student, 'layers.ReLU.forward', x.to(device=device, dtype=dtype))
        dx = O.backward(student, 'layers.ReLU.backward', dout.to(device=device, dtype=dtype),
                        cache, n=1)
        expect_tensor(dx, f"ReLU.backward: dx for {dtype} input on {device}", shape=(3, 4),
                      dtype=dtype, device=device)


# ------------------------------------------------------------------ Linear_ReLU

def linear_relu(x, w, b):
    return torch.relu(O.linear(x, w, b))


@pytest.mark.item('linear_relu')
def test_linear_relu_matches_autograd(student):
    for k, (shape, M) in enumerate(LINEAR_CASES[:2]):
        x, w, b = linear_inputs(shape, M, seed=60 + 10 * k)
        dout = O.randn(shape[0], M, seed=65 + k)
        out, cache, _ = O.forward(student, 'layers.Linear_ReLU.forward', x, w, b)
        want_out, want = O.autograd(linear_relu, [x, w, b], dout)
        expect_close(out, want_out, f"Linear_ReLU.forward: out for x of shape {shape}")
        grads = O.backward(student, 'layers.Linear_ReLU.backward', dout, cache)
        for name, g, wg in zip('xwb', grads, want):
            expect_close(g, wg, f"Linear_ReLU.backward: d{name} for x of shape {shape}")


@pytest.mark.item('linear_relu')
def test_linear_relu_numeric_gradient(student):
    x, w, b = linear_inputs((4, 6), 5, seed=70)
    dout = O.randn(4, 5, seed=71)
    _, cache, _ = O.forward(student, 'layers.Linear_ReLU.forward', x, w, b)
    grads = O.backward(student, 'layers.Linear_ReLU.backward', dout, cache)
    fwd = lambda inputs: O.forward(student, 'layers.Linear_ReLU.forward', *inputs)[0]  # noqa: E731
    O.directional_check(fwd, [x, w, b], grads, dout, 'xwb', 'Linear_ReLU.backward')


@pytest.mark.item('linear_relu')
def test_linear_relu_dtype_and_device(student):
    cases = [('cpu', torch.float32)] + [(d, F64) for d in O.extra_devices()]
    for device, dtype in cases:
        x, w, b = (t.to(device) for t in linear_inputs((3, 4), 2, seed=7, dtype=dtype))
        out, cache, _ = O.forward(student, 'layers.Linear_ReLU.forward', x, w, b)
        expect_tensor(out, f"Linear_ReLU.forward: out for {dtype} inputs on {device}",
                      shape=(3, 2), dtype=dtype, device=device)
        grads = O.backward(student, 'layers.Linear_ReLU.backward', out * 0 + 1, cache)
        for name, g, t in zip('xwb', grads, (x, w, b)):
            expect_tensor(g, f"Linear_ReLU.backward: d{name} for {dtype} inputs on {device}",
                          shape=t.shape, dtype=dtype, device=device)


# ------------------------------------------------------------------ softmax_loss

def labels(N, C, seed):
    return torch.randint(C, (N,), generator=O.generator(seed))


def check_softmax(student, x, y, what, tol=1e-8):
    res = student.call('layers.softmax_loss', x, y)
    loss, dx = O.unpack(res.value, 2, 'softmax_loss', '(loss, dx)')
    want_loss, (want_dx,) = O.autograd(lambda s: O.softmax_loss(s, y), [x])
    expect_tensor(loss, f"softmax_loss: loss {what}")
    check(loss.numel() == 1, f"softmax_loss: loss {what} must be a scalar, got shape "
                             f"{tuple(loss.shape)}")
    expect_close(loss.reshape(()), want_loss, f"softmax_loss: loss {what}", tol=tol)
    expect_close(dx, want_dx, f"softmax_loss: dx {what}", tol=tol)
    O.expect_unchanged(res.args[0], x, "softmax_loss: x")


@pytest.mark.item('softmax_loss')
def test_softmax_loss_values(student):
    for k, (N, C) in enumerate([(5, 4), (1, 3), (8, 2), (50, 10)]):
        check_softmax(student, O.randn(N, C, seed=80 + k, scale=2.0), labels(N, C, 85 + k),
                      f"for ({N}, {C}) scores")


@pytest.mark.item('softmax_loss')
def test_softmax_loss_large_scores(student):
    """Scores of +-1000 overflow exp() unless the row max is subtracted."""
    x = O.randn(6, 5, seed=90, scale=3.0)
    x[:, 0] += 1000.0
    x[3] -= 2000.0
    check_softmax(student, x, labels(6, 5, 91), "for scores around 1000")
    check_softmax(student, x.float(), labels(6, 5, 91), "for float32 scores around 1000", tol=1e-5)


@pytest.mark.item('softmax_loss')
def test_softmax_loss_numeric_gradient(student):
    x, y = O.randn(7, 4, seed=92), labels(7, 4, 93)
    _, dx = O.unpack(student.call('layers.softmax_loss', x, y).value, 2, 'softmax_loss',
                     '(loss, dx)')
    fwd = lambda inputs: student.call('layers.softmax_loss', inputs[0], y).value[0]  # noqa: E731
    O.directional_check(fwd, [x], [dx], None, ['x'], 'softmax_loss')


@pytest.mark.item('softmax_loss')
def test_softmax_loss_dtype_and_device(student):
    cases = [('cpu', torch.float32)] + [(d, F64) for d in O.extra_devices()]
    for device, dtype in cases:
        x = O.randn(4, 3, seed=94, dtype=dtype).to(device)
        loss, dx = O.unpack(student.call('layers.softmax_loss', x, labels(4, 3, 95).to(device)).value,
                            2, 'softmax_loss', '(loss, dx)')
        expect_tensor(loss, f"softmax_loss: loss for {dtype} scores on {device}", dtype=dtype,
                      device=device)
        expect_tensor(dx, f"softmax_loss: dx for {dtype} scores on {device}", shape=(4, 3),
                      dtype=dtype, device=device)


# ------------------------------------------------------------------ FullyConnectedNet

def make_net(student, hidden, **kwargs):
    return student.call('layers.FullyConnectedNet', hidden, **kwargs).ref


def random_params(hidden, input_dim, num_classes, normalization, seed):
    dims = [input_dim, *hidden, num_classes]
    params = {}
    for i in range(1, len(dims)):
        params[f'W{i}'] = O.randn(dims[i - 1], dims[i], seed=seed + i, scale=dims[i - 1] ** -0.5)
        params[f'b{i}'] = O.randn(dims[i], seed=seed + 50 + i, scale=0.1)
        if normalization and i < len(dims) - 1:
            params[f'gamma{i}'] = 1 + O.randn(dims[i], seed=seed + 100 + i, scale=0.2)
            params[f'beta{i}'] = O.randn(dims[i], seed=seed + 150 + i, scale=0.2)
    return params


def net_with_params(student, hidden, input_dim, num_classes, seed, **kwargs):
    net = make_net(student, hidden, input_dim=input_dim, num_classes=num_classes,
                   dtype=F64, **kwargs)
    params = random_params(hidden, input_dim, num_classes, kwargs.get('normalization'), seed)
    student.setattr(net, 'params', params)
    return net, params


def net_loss(student, net, X, y=None):
    value = student.call_method(net, 'loss', X, y).value
    if y is None:
        return value
    loss, grads = O.unpack(value, 2, 'FullyConnectedNet.loss(X, y)', '(loss, grads)')
    check(isinstance(grads, dict), "FullyConnectedNet.loss(X, y): grads must be a dict")
    return loss, grads


def check_loss_and_grads(student, net, params, X, y, what, **oracle_kwargs):
    loss, grads = net_loss(student, net, X, y)
    names = sorted(params)
    want_loss, want = O.autograd(lambda *ps: O.fc_net_loss(dict(zip(names, ps)), X, y, **oracle_kwargs),
                                 [params[k] for k in names])
    expect_tensor(loss, f"FullyConnectedNet.loss {what}: loss")
    expect_close(loss.reshape(()), want_loss, f"FullyConnectedNet.loss {what}: loss")
    check(set(grads) == set(params), f"FullyConnectedNet.loss {what}: grads has keys "
                                     f"{sorted(grads)}, expected {names}")
    for k, g in zip(names, want):
        expect_close(grads[k], g, f"FullyConnectedNet.loss {what}: grads['{k}']")


@pytest.mark.item('fc_net')
def test_fc_net_params_and_init(student):
    cases = [([150, 40], None, 0.05, F64), ([30], 'batchnorm', 1e-2, torch.float32),
             ([30, 20], 'layernorm', 1e-3, F64)]
    for hidden, norm, scale, dtype in cases:
        what = f"FullyConnectedNet({hidden}, input_dim=200, normalization={norm!r})"
        net = make_net(student, hidden, input_dim=200, num_classes=10, normalization=norm,
                       weight_scale=scale, dtype=dtype, seed=3)
        params = O.plain(student.getattr(net, 'params'), f"{what}.params")
        dims = [200, *hidden, 10]
        want = {f'W{i}': (dims[i - 1], dims[i]) for i in range(1, len(dims))}
        want.update({f'b{i}': (dims[i],) for i in range(1, len(dims))})
        if norm:
            want.update({f'{p}{i}': (dims[i],) for i in range(1, len(dims) - 1) for p in ('gamma', 'beta')})
        check(isinstance(params, dict) and set(params) == set(want),
              f"{what}.params has keys {sorted(params) if isinstance(params, dict) else params}, "
              f"expected {sorted(want)}")
        for k, shape in want.items():
            expect_tensor(params[k], f"{what}.params['{k}']", shape=shape, dtype=dtype)
            if k[0] == 'b' or k.startswith('beta'):
                check(bool((params[k] == 0).all()), f"{what}.params['{k}'] must start at zeros")
            elif k.startswith('gamma'):
                check(bool((params[k] == 1).all()), f"{what}.params['{k}'] must start at ones")
        O.expect_normal(params['W1'], scale, f"{what}.params['W1'] with weight_scale={scale}")
    for scheme in ('xavier', 'kaiming'):
        what = f"FullyConnectedNet([150, 40], input_dim=200, weight_scale={scheme!r})"
        net = make_net(student, [150, 40], input_dim=200, weight_scale=scheme, dtype=F64)
        params = O.plain(student.getattr(net, 'params'), f"{what}.params")
        std = math.sqrt(2 / 350) if scheme == 'xavier' else math.sqrt(2 / 200)
        O.expect_normal(params['W1'], std, f"{what}.params['W1']")


@pytest.mark.item('fc_net')
def test_fc_net_scores_match_oracle(student):
    for k, (hidden, shape) in enumerate([([7, 6], (5, 12)), ([9], (4, 1, 3, 4)), ([], (3, 12))]):
        net, params = net_with_params(student, hidden, 12, 5, seed=200 + 10 * k)
        X = O.randn(*shape, seed=201 + k)
        scores = net_loss(student, net, X)
        expect_close(scores, O.fc_net_scores(params, X, len(hidden) + 1),
                     f"FullyConnectedNet.loss(X): scores for hidden_dims={hidden}, X of shape {shape}")


@pytest.mark.item('fc_net')
def test_fc_net_loss_and_grads(student):
    for k, (hidden, shape) in enumerate([([7, 6], (5, 12)), ([9], (4, 1, 3, 4))]):
        net, params = net_with_params(student, hidden, 12, 5, seed=300 + 10 * k)
        X, y = O.randn(*shape, seed=301 + k), labels(shape[0], 5, 302 + k)
        check_loss_and_grads(student, net, params, X, y, f"for hidden_dims={hidden}",
                             num_layers=len(hidden) + 1)


@pytest.mark.item('fc_net')
def test_fc_net_regularization(student):
    for k, reg in enumerate([0.3, 1.7]):
        net, params = net_with_params(student, [8, 6], 10, 4, seed=400 + 10 * k, reg=reg)
        X, y = O.randn(6, 10, seed=401 + k), labels(6, 4, 402 + k)
        check_loss_and_grads(student, net, params, X, y, f"with reg={reg}", num_layers=3, reg=reg)


@pytest.mark.item('fc_net')
def test_fc_net_batchnorm_and_layernorm(student):
    X, y = O.randn(8, 10, seed=500, scale=2.0), labels(8, 4, 501)
    for norm in ('batchnorm', 'layernorm'):
        net, params = net_with_params(student, [7, 6], 10, 4, seed=510, normalization=norm,
                                      reg=0.1)
        check_loss_and_grads(student, net, params, X, y, f"with normalization={norm!r}",
                             num_layers=3, normalization=norm, reg=0.1)
    # Test mode: batchnorm uses the running statistics, not the batch's.
    net, params = net_with_params(student, [7, 6], 10, 4, seed=520, normalization='batchnorm')
    running = [(O.randn(d, seed=530 + d), O.randn(d, seed=540 + d).abs() + 0.5) for d in (7, 6)]
    student.setattr(net, 'bn_params', [{'mode': 'train', 'running_mean': m, 'running_var': v}
                                       for m, v in running])
    X_test = O.randn(5, 10, seed=550)
    expect_close(net_loss(student, net, X_test),
                 O.fc_net_scores(params, X_test, 3, 'batchnorm', running=running),
                 "FullyConnectedNet.loss(X) with batchnorm (test mode, running statistics): scores")


@pytest.mark.item('fc_net')
def test_fc_net_dropout(student):
    net, params = net_with_params(student, [9, 8], 10, 4, seed=600, dropout=0.4)
    X, y = O.randn(20, 10, seed=601), labels(20, 4, 602)
    # Test mode is deterministic: no dropout at all.
    expect_close(net_loss(student, net, X), O.fc_net_scores(params, X, 3),
                 "FullyConnectedNet.loss(X) with dropout=0.4 (test mode): scores")
    # Train mode with a seed: the masks repeat, so the gradients must match
    # finite differences of the net's own loss, and dropout must act.
    net = make_net(student, [9, 8], input_dim=10, num_classes=4, dropout=0.4, seed=5, dtype=F64)
    student.setattr(net, 'params', params)
    loss, grads = net_loss(student, net, X, y)
    plain_loss = O.fc_net_loss(params, X, y, 3).item()
    check(abs(float(loss) - plain_loss) > 1e-6 * abs(plain_loss),
          "FullyConnectedNet.loss(X, y) with dropout=0.4 (train mode): the loss equals the "
          "loss without dropout; dropout must act in train mode")

    def loss_at(inputs):
        student.setattr(net, 'params', {**params, 'W1': inputs[0], 'W2': inputs[1]})
        return net_loss(student, net, X, y)[0]

    O.directional_check(loss_at, [params['W1'], params['W2']], [grads.get('W1'), grads.get('W2')],
                        None, ['W1', 'W2'], "FullyConnectedNet.loss with dropout=0.4 (train mode)")


@pytest.mark.item('fc_net')
def test_fc_net_device(student):
    for device in O.extra_devices():
        what = f"FullyConnectedNet([6], input_dim=5, normalization='batchnorm', device={device!r})"
        net = make_net(student, [6], input_dim=5, num_classes=3, normalization='batchnorm',
                       device=device, dtype=F64)
        params = O.plain(student.getattr(net, 'params'), f"{what}.params")
        for k, p in params.items():
            expect_tensor(p, f"{what}.params['{k}']", device=device)
        X, y = O.randn(4, 5, seed=700).to(device), labels(4, 3, 701).to(device)
        expect_tensor(net_loss(student, net, X), f"{what}.loss(X): scores", shape=(4, 3),
                      device=device)
        loss, grads = net_loss(student, net, X, y)
        expect_tensor(loss, f"{what}.loss(X, y): loss", device=device)
        for k, g in grads.items():
            expect_tensor(g, f"{what}.loss(X, y): grads['{k}']", device=device)
