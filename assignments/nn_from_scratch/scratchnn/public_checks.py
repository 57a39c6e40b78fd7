"""The public checks: one per graded item, in the order of the notebooks.

Each graded cell of a notebook calls the check of its item, and
`python -m scratchnn.check` runs all of them: one copy, two callers. A check
raises AssertionError with a message that says what is wrong, or the
NotImplementedError of a function not written yet; it returns None when the
item passes.

These are quick public checks, necessary but not sufficient: after you hand
in, hidden tests check the same functions much more thoroughly (other shapes,
dtypes, devices, edge cases). This module is given: you do not edit it, and
unlike your own modules it may use torch.optim, as a reference.
"""
import math

import torch

from . import dropout, init, layers, normalization, optim
from .gradcheck import gradcheck as check_gradient, rel_error

CHECKS = {}   # item id (the graded cell's grade_id) -> its check, in notebook order


def public_check(check):
    """Register `check` as the public check of the item of the same name."""
    CHECKS[check.__name__] = check
    return check


# ---------------------------------------------------------------- helpers

def param_check(model, X, y, name):
    """Relative error of model's gradient of params[name] against a numeric one."""
    def loss_of(p):
        saved = model.params[name]
        model.params[name] = p
        try:
            return model.loss(X, y)[0]
        finally:
            model.params[name] = saved
    _, grads = model.loss(X, y)
    return check_gradient(loss_of, model.params[name], grads[name])


def randomize_params(model, seed, scale=0.5):
    """Replace every parameter with scale * N(0, 1) noise. Nonzero biases keep
    hidden units away from the ReLU kink at 0 (with zero biases, an example whose
    previous layer is all dead feeds exactly 0 into the next ReLU)."""
    gen = torch.Generator().manual_seed(seed)
    for name, p in model.params.items():
        model.params[name] = scale * torch.randn(p.shape, generator=gen, dtype=p.dtype)


# Our rule -> the torch optimizer it equals (Nesterov: SGD with nesterov=True)
REFERENCES = dict(sgd=torch.optim.SGD, sgd_momentum=torch.optim.SGD, nesterov=torch.optim.SGD,
                  adagrad=torch.optim.Adagrad, rmsprop=torch.optim.RMSprop, adadelta=torch.optim.Adadelta,
                  adam=torch.optim.Adam, adamw=torch.optim.AdamW)
ADAM_DEFAULTS = dict(learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8)
DEFAULTS = {  # the contract's defaults (docs/companion-api.md)
    'sgd': dict(learning_rate=1e-2, momentum=0.0),
    'sgd_momentum': dict(learning_rate=1e-2, momentum=0.9),
    'nesterov': dict(learning_rate=1e-2, momentum=0.9),
    'adagrad': dict(learning_rate=1e-2, epsilon=1e-8),
    'rmsprop': dict(learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8),
    'adadelta': dict(learning_rate=1.0, rho=0.9, epsilon=1e-6),
    'adam': ADAM_DEFAULTS,
    'adamw': {**ADAM_DEFAULTS, 'weight_decay': 1e-2},
}
TORCH_NAMES = {'learning_rate': 'lr', 'epsilon': 'eps', 'decay_rate': 'alpha', 'rho': 'rho',
               'momentum': 'momentum', 'weight_decay': 'weight_decay'}


def torch_kwargs(name, config):
    """The keyword arguments of the torch optimizer equal to rule `name` with `config`."""
    hyper = {**DEFAULTS[name], **config}
    kwargs = {TORCH_NAMES[k]: v for k, v in hyper.items() if k in TORCH_NAMES}
    if 'beta1' in hyper:
        kwargs['betas'] = (hyper['beta1'], hyper['beta2'])
    if name == 'sgd':
        kwargs.pop('momentum')
    if name == 'nesterov':
        kwargs['nesterov'] = True
    return kwargs


def compare_with_torch(rule, w0, config, steps=5, seed=0):
    """Relative error between the weights of `steps` updates by `rule` and by torch.optim,
    fed the same sequence of random gradients."""
    gen = torch.Generator().manual_seed(seed)
    grads = [torch.randn(w0.shape, generator=gen, dtype=w0.dtype) for _ in range(steps)]
    ours, state = [], dict(config)
    w = w0.clone()
    for g in grads:
        w, state = rule(w, g.clone(), state)
        ours.append(w.clone())
    p = torch.nn.Parameter(w0.clone())
    opt = REFERENCES[rule.__name__]([p], **torch_kwargs(rule.__name__, config))
    theirs = []
    for g in grads:
        p.grad = g.clone()
        opt.step()
        theirs.append(p.detach().clone())
    return rel_error(torch.stack(ours), torch.stack(theirs))


def grad_errors(forward, backward, x, gamma, beta, dout):
    """Relative errors of (dx, dgamma, dbeta) from backward against numeric ones.
    forward(x, gamma, beta) -> (out, cache)."""
    _, cache = forward(x, gamma, beta)
    dx, dgamma, dbeta = backward(dout, cache)
    return (check_gradient(lambda x_: forward(x_, gamma, beta)[0], x, dx, dout),
            check_gradient(lambda g_: forward(x, g_, beta)[0], gamma, dgamma, dout),
            check_gradient(lambda b_: forward(x, gamma, b_)[0], beta, dbeta, dout))


def backward_check(what, forward, backward, x, gamma, beta, dout):
    """Assert that backward's (dx, dgamma, dbeta) match numeric gradients of forward."""
    for name, error in zip(('dx', 'dgamma', 'dbeta'), grad_errors(forward, backward, x, gamma, beta, dout)):
        assert error < 1e-7, f"{what}: {name} is wrong (relative error {error:.2e})"


def _gradient_step(w, dw, config):
    """A plain gradient step: the update rule of notebook 1, before you write optim.sgd."""
    return w - config.setdefault('learning_rate', 1e-2) * dw, config


def train(model, data, update_rule, learning_rate, batch_size, num_epochs):
    """A Solver trained quietly on data with seed 0, as the notebooks do."""
    from .solver import Solver
    return Solver(model, data, update_rule=update_rule, optim_config={'learning_rate': learning_rate},
                  batch_size=batch_size, num_epochs=num_epochs, seed=0, progress=False).train()

# ---------------------------------------------------------------- notebook 1


@public_check
def linear_forward():
    """Public check of Linear.forward."""
    x = torch.arange(12, dtype=torch.float64).reshape(2, 2, 3) / 10   # 2 examples of 2x3 features
    w = torch.ones(6, 2, dtype=torch.float64)
    w[:, 1] = torch.arange(6, dtype=torch.float64)
    b = torch.tensor([1.0, -1.0], dtype=torch.float64)
    x_before = x.clone()
    out, cache = layers.Linear.forward(x, w, b)
    assert tuple(out.shape) == (2, 2), f"out has shape {tuple(out.shape)}, expected (2, 2)"
    assert out.dtype == torch.float64, f"out must keep the input dtype float64, got {out.dtype}"
    expected = torch.tensor([[2.5, 4.5], [6.1, 13.5]], dtype=torch.float64)
    assert torch.allclose(out, expected), f"out =\n{out}\nexpected\n{expected}"
    assert torch.equal(x, x_before), "Linear.forward must not modify x"


@public_check
def linear_backward():
    """Public check of Linear.backward."""
    torch.manual_seed(1)
    x = torch.randn(4, 3, 2, dtype=torch.float64)
    w = torch.randn(6, 7, dtype=torch.float64)
    b = torch.randn(7, dtype=torch.float64)
    dout = torch.randn(4, 7, dtype=torch.float64)
    _, cache = layers.Linear.forward(x, w, b)
    dx, dw, db = layers.Linear.backward(dout, cache)
    assert tuple(dx.shape) == (4, 3, 2), f"dx must have the shape of x (4, 3, 2), got {tuple(dx.shape)}"
    assert tuple(dw.shape) == (6, 7) and tuple(db.shape) == (7,), "dw and db must have the shapes of w and b"
    errors = {
        'dx': check_gradient(lambda x_: layers.Linear.forward(x_, w, b)[0], x, dx, dout),
        'dw': check_gradient(lambda w_: layers.Linear.forward(x, w_, b)[0], w, dw, dout),
        'db': check_gradient(lambda b_: layers.Linear.forward(x, w, b_)[0], b, db, dout),
    }
    for name, error in errors.items():
        assert error < 1e-7, f"{name} is wrong: relative error {error:.2e}"


@public_check
def relu_forward():
    """Public check of ReLU.forward."""
    x = torch.tensor([[-3.0, -0.1, 0.0], [0.2, 1.5, -7.0]], dtype=torch.float64)
    out, cache = layers.ReLU.forward(x)
    expected = torch.tensor([[0.0, 0.0, 0.0], [0.2, 1.5, 0.0]], dtype=torch.float64)
    assert tuple(out.shape) == (2, 3) and out.dtype == torch.float64, "out must keep the shape and dtype of x"
    assert torch.equal(out, expected), f"out =\n{out}\nexpected\n{expected}"
    assert x[0, 0] == -3.0, "ReLU.forward must not modify x in place"


@public_check
def relu_backward():
    """Public check of ReLU.backward."""
    x = torch.tensor([[-3.0, -0.1, 0.5], [0.2, 1.5, -7.0]], dtype=torch.float64)
    dout = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=torch.float64)
    dx = layers.ReLU.backward(dout, layers.ReLU.forward(x)[1])
    expected = torch.tensor([[0.0, 0.0, 3.0], [4.0, 5.0, 0.0]], dtype=torch.float64)
    assert torch.equal(dx, expected), f"dx =\n{dx}\nexpected\n{expected}"
    torch.manual_seed(2)
    x = torch.randn(5, 6, dtype=torch.float64)
    dout = torch.randn(5, 6, dtype=torch.float64)
    error = check_gradient(lambda x_: layers.ReLU.forward(x_)[0], x, layers.ReLU.backward(dout, layers.ReLU.forward(x)[1]), dout)
    assert error < 1e-7, f"ReLU gradient check failed: relative error {error:.2e}"


@public_check
def linear_relu():
    """Public check of Linear_ReLU."""
    x = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    w = torch.tensor([[1.0, 2.0, 0.0], [1.0, 0.0, -1.0]], dtype=torch.float64)
    b = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    out, cache = layers.Linear_ReLU.forward(x, w, b)
    assert torch.allclose(out, torch.tensor([[0.0, 3.0, 2.0]], dtype=torch.float64)), f"out = {out}, expected [[0, 3, 2]]"
    torch.manual_seed(3)
    x = torch.randn(3, 5, dtype=torch.float64)
    w = torch.randn(5, 4, dtype=torch.float64)
    b = torch.randn(4, dtype=torch.float64)
    dout = torch.randn(3, 4, dtype=torch.float64)
    dx, dw, db = layers.Linear_ReLU.backward(dout, layers.Linear_ReLU.forward(x, w, b)[1])
    for name, error in (('dx', check_gradient(lambda x_: layers.Linear_ReLU.forward(x_, w, b)[0], x, dx, dout)),
                        ('dw', check_gradient(lambda w_: layers.Linear_ReLU.forward(x, w_, b)[0], w, dw, dout)),
                        ('db', check_gradient(lambda b_: layers.Linear_ReLU.forward(x, w, b_)[0], b, db, dout))):
        assert error < 1e-7, f"Linear_ReLU {name} is wrong: relative error {error:.2e}"


@public_check
def softmax_loss():
    """Public check of softmax_loss."""
    scores = torch.zeros(2, 4, dtype=torch.float64)
    y = torch.tensor([1, 3])
    loss, dx = layers.softmax_loss(scores, y)
    assert abs(loss.item() - math.log(4)) < 1e-12, f"uniform scores: loss {loss.item()}, expected log 4"
    expected_dx = torch.full((2, 4), 0.125, dtype=torch.float64)
    expected_dx[0, 1] = expected_dx[1, 3] = -0.375
    assert torch.allclose(dx, expected_dx), f"dx =\n{dx}\nexpected\n{expected_dx}"
    big = torch.tensor([[1000.0, 0.0], [0.0, 1000.0]], dtype=torch.float64)
    loss, dx = layers.softmax_loss(big, torch.tensor([0, 0]))
    assert torch.isfinite(loss) and torch.isfinite(dx).all(), "softmax_loss overflows: subtract the row max"
    assert abs(loss.item() - 500.0) < 1e-9, f"loss {loss.item()}, expected 500"
    torch.manual_seed(4)
    scores = torch.randn(6, 5, dtype=torch.float64)
    y = torch.randint(5, (6,))
    loss, dx = layers.softmax_loss(scores, y)
    error = check_gradient(lambda s: layers.softmax_loss(s, y)[0], scores, dx)
    assert error < 1e-7, f"softmax_loss gradient check failed: relative error {error:.2e}"


@public_check
def fc_net():
    """Public check of FullyConnectedNet."""
    model = layers.FullyConnectedNet([6, 7], input_dim=5, num_classes=3, weight_scale=1e-2, seed=0,
                              dtype=torch.float64)
    shapes = {name: tuple(p.shape) for name, p in model.params.items()}
    expected = {'W1': (5, 6), 'b1': (6,), 'W2': (6, 7), 'b2': (7,), 'W3': (7, 3), 'b3': (3,)}
    assert shapes == expected, f"params have shapes {shapes}, expected {expected}"
    assert all(p.dtype == torch.float64 for p in model.params.values()), "params must have the dtype asked for"
    assert all(torch.equal(model.params[b], torch.zeros_like(model.params[b])) for b in ('b1', 'b2', 'b3')), "biases start at 0"
    assert 0.005 < model.params['W2'].std().item() < 0.02, "weights must be drawn with std weight_scale"
    torch.manual_seed(5)
    X = torch.randn(4, 5, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 2])
    scores = model.loss(X)
    assert tuple(scores.shape) == (4, 3), f"loss(X) must return scores (N, C), got {tuple(scores.shape)}"
    loss, grads = model.loss(X, y)
    assert abs(loss.item() - math.log(3)) < 0.01, f"tiny weights: initial loss {loss.item():.4f}, expected about log 3"
    assert set(grads) == set(model.params), "grads must have the keys of params"
    for reg in (0.0, 0.7):
        model = layers.FullyConnectedNet([6, 7], input_dim=5, num_classes=3, reg=reg, seed=1, dtype=torch.float64)
        randomize_params(model, seed=2)
        for name in model.params:
            error = param_check(model, X, y, name)
            assert error < 1e-6, f"reg={reg}: gradient of {name} is wrong (relative error {error:.2e})"


@public_check
def train_two_layer(solver=None, data=None):
    """The two-layer net trained in the notebook (solver, with its data). Without
    them, trains one with the notebook's settings first. Returns the accuracies."""
    if solver is None:
        from .data import load_digits
        data = load_digits()
        model = layers.FullyConnectedNet([100], input_dim=64, weight_scale=0.1, reg=1e-3, seed=0)
        solver = train(model, data, _gradient_step, learning_rate=0.1, batch_size=50, num_epochs=15)
    val_acc = solver.best_val_acc
    test_acc = solver.check_accuracy(data['X_test'], data['y_test'])
    assert solver.model.num_layers == 2, "train a two-layer net (one hidden layer)"
    assert val_acc >= 0.9, f"validation accuracy {val_acc:.3f}; reach at least 0.90"
    assert test_acc >= 0.85, f"test accuracy {test_acc:.3f}; expected at least 0.85"
    return f'validation accuracy {val_acc:.3f}, test accuracy {test_acc:.3f}'


# ---------------------------------------------------------------- notebook 2


def _check_uniform(w, shape, a):
    """Assert that w, asked for in float64, has `shape` and looks drawn from U(-a, a)."""
    assert tuple(w.shape) == shape, f"shape {tuple(w.shape)}, expected (Din, Dout) = {shape}"
    assert w.dtype == torch.float64, "the tensor must have the dtype asked for"
    assert w.abs().max().item() <= a, f"values must lie in [-a, a], a = {a:.4f}"
    assert w.abs().max().item() > 0.99 * a and abs(w.std().item() - a / math.sqrt(3)) < 0.02 * a, "not U(-a, a)"
    assert abs(w.mean().item()) < 0.01 * a, "the distribution must be centered at 0"


def _check_normal(w, shape, std):
    """Assert that w, asked for in float64, has `shape` and looks drawn from N(0, std^2)."""
    assert tuple(w.shape) == shape and w.dtype == torch.float64, "shape (Din, Dout) and the dtype asked for"
    assert abs(w.std().item() - std) < 0.02 * std, f"std {w.std().item():.5f}, expected {std:.5f}"
    assert abs(w.mean().item()) < 0.01 * std, "the distribution must be centered at 0"


def _check_conv_and_device(initializer, Din, Dout, spread, message, uniform, **options):
    """Assert that initializer(Din, Dout, K=3, **options) has shape (Dout, Din, 3, 3)
    and the spread of its fans (uniform: the bound a, reached within 20%; else
    the std, within 5%), and that the initializer creates on the device asked for."""
    wc = initializer(Din, Dout, K=3, **options)
    shape = (Dout, Din, 3, 3)
    assert tuple(wc.shape) == shape, f"conv shape {tuple(wc.shape)}, expected (Dout, Din, K, K) = {shape}"
    if uniform:
        assert 0.8 * spread < wc.abs().max().item() <= spread, message
    else:
        assert abs(wc.std().item() - spread) < 0.05 * spread, message
    assert initializer(3, 4, device='meta').device.type == 'meta', "create the tensor on the device asked for"


@public_check
def xavier_uniform():
    """Public check of xavier_uniform."""
    torch.manual_seed(0)
    _check_uniform(init.xavier_uniform(300, 500, dtype=torch.float64), (300, 500), math.sqrt(6 / 800))
    _check_conv_and_device(init.xavier_uniform, 8, 4, 2.0 * math.sqrt(6 / ((8 + 4) * 9)),
                           "conv fans or gain are wrong", uniform=True, gain=2.0)


@public_check
def xavier_normal():
    """Public check of xavier_normal."""
    torch.manual_seed(0)
    std = math.sqrt(2 / 800)
    w = init.xavier_normal(300, 500, dtype=torch.float64)
    _check_normal(w, (300, 500), std)
    assert w.abs().max().item() > 3 * std, "not a normal distribution (no tails)"
    _check_conv_and_device(init.xavier_normal, 32, 16, 0.5 * math.sqrt(2 / ((32 + 16) * 9)),
                           "conv fans or gain are wrong", uniform=False, gain=0.5)


@public_check
def kaiming_uniform():
    """Public check of kaiming_uniform."""
    torch.manual_seed(0)
    a = math.sqrt(3 * 2 / 400)
    _check_uniform(init.kaiming_uniform(400, 300, dtype=torch.float64), (400, 300), a)
    w_linear = init.kaiming_uniform(400, 300, relu=False)
    assert abs(w_linear.abs().max().item() - math.sqrt(3 / 400)) < 0.01 * a, "relu=False means gain 1"
    _check_conv_and_device(init.kaiming_uniform, 8, 4, math.sqrt(3 * 2 / (8 * 9)),
                           "conv fan_in is Din * K * K", uniform=True)


@public_check
def kaiming_normal():
    """Public check of kaiming_normal."""
    torch.manual_seed(0)
    std = math.sqrt(2 / 400)
    _check_normal(init.kaiming_normal(400, 300, dtype=torch.float64), (400, 300), std)
    w_linear = init.kaiming_normal(400, 300, relu=False)
    assert abs(w_linear.std().item() - math.sqrt(1 / 400)) < 0.02 * std, "relu=False means gain 1"
    _check_conv_and_device(init.kaiming_normal, 16, 8, math.sqrt(2 / (16 * 9)),
                           "conv fan_in is Din * K * K", uniform=False)


# ---------------------------------------------------------------- notebook 3


def update_rule_check(rule, configs, state):
    """The public check of an update rule: it matches torch.optim for each config,
    leaves dw alone, and keeps its state (the keys in `state`) in config. (A rule
    may update w in place, as `w -= learning_rate * dw` does.)"""
    w0 = torch.linspace(-1.0, 1.0, 12, dtype=torch.float64).reshape(3, 4)
    for config in configs:
        error = compare_with_torch(rule, w0, config)
        assert error < 1e-6, f"optim.{rule.__name__} with {config} differs from the reference: relative error {error:.2e}"
    dw = torch.ones_like(w0)
    _, config = rule(w0.clone(), dw)
    assert torch.equal(dw, torch.ones_like(w0)), "the rule must not modify dw"
    assert set(state) <= set(config), f"config must hold the state {sorted(state)}, has {sorted(config)}"


@public_check
def sgd():
    """Public check of optim.sgd."""
    configs = ({}, {'learning_rate': 0.3}, {'learning_rate': 0.1, 'weight_decay': 0.2})
    update_rule_check(optim.sgd, configs, state=())


@public_check
def sgd_momentum():
    """Public check of optim.sgd_momentum."""
    configs = ({}, {'learning_rate': 0.1, 'momentum': 0.5}, {'learning_rate': 0.05, 'weight_decay': 0.1})
    update_rule_check(optim.sgd_momentum, configs, state=('velocity',))


@public_check
def nesterov():
    """Public check of optim.nesterov."""
    configs = ({}, {'learning_rate': 0.1, 'momentum': 0.5}, {'learning_rate': 0.05, 'weight_decay': 0.1})
    update_rule_check(optim.nesterov, configs, state=('velocity',))


@public_check
def adagrad():
    """Public check of optim.adagrad."""
    configs = ({}, {'learning_rate': 0.5}, {'learning_rate': 0.1, 'epsilon': 1e-3, 'weight_decay': 0.1})
    update_rule_check(optim.adagrad, configs, state=('cache',))


@public_check
def rmsprop():
    """Public check of optim.rmsprop."""
    configs = ({}, {'learning_rate': 0.05, 'decay_rate': 0.9}, {'epsilon': 1e-3, 'weight_decay': 0.1})
    update_rule_check(optim.rmsprop, configs, state=('cache',))


@public_check
def adadelta():
    """Public check of optim.adadelta."""
    configs = ({}, {'learning_rate': 0.5, 'rho': 0.8}, {'epsilon': 1e-3, 'weight_decay': 0.1})
    update_rule_check(optim.adadelta, configs, state=('cache', 'delta'))


@public_check
def adam():
    """Public check of optim.adam."""
    configs = ({}, {'learning_rate': 0.1, 'beta1': 0.5, 'beta2': 0.9}, {'learning_rate': 0.01, 'weight_decay': 0.1})
    update_rule_check(optim.adam, configs, state=('m', 'v', 't'))


@public_check
def adamw():
    """Public check of optim.adamw."""
    configs = ({}, {'learning_rate': 0.1, 'weight_decay': 0.5}, {'learning_rate': 0.01, 'beta1': 0.5, 'weight_decay': 0.0})
    update_rule_check(optim.adamw, configs, state=('m', 'v', 't'))


# ---------------------------------------------------------------- notebook 4


@public_check
def dropout_forward():
    """Public check of Dropout.forward."""
    x = torch.ones(1000, 100, dtype=torch.float64)
    out, cache = dropout.Dropout.forward(x, {'mode': 'train', 'p': 0.3, 'seed': 0})
    assert tuple(out.shape) == (1000, 100) and out.dtype == torch.float64, "out must keep the shape and dtype of x"
    dropped = (out == 0).double().mean().item()
    assert abs(dropped - 0.3) < 0.01, f"p=0.3 is the drop probability: {dropped:.3f} of the units were dropped"
    kept = out[out != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / 0.7)), "kept units must be scaled by 1 / (1 - p)"
    again, _ = dropout.Dropout.forward(x, {'mode': 'train', 'p': 0.3, 'seed': 0})
    assert torch.equal(out, again), "the same seed must give the same mask"
    x = torch.randn(20, 30, dtype=torch.float64)
    out, _ = dropout.Dropout.forward(x, {'mode': 'test', 'p': 0.6})
    assert torch.equal(out, x), "test mode is the identity"
    out, _ = dropout.Dropout.forward(x, {'mode': 'train', 'p': 0.0})
    assert torch.equal(out, x), "p = 0 drops nothing"


@public_check
def dropout_backward():
    """Public check of Dropout.backward."""
    torch.manual_seed(7)
    x = torch.randn(40, 50, dtype=torch.float64)
    param = {'mode': 'train', 'p': 0.4, 'seed': 3}
    out, cache = dropout.Dropout.forward(x, param)
    dx = dropout.Dropout.backward(torch.ones_like(x), cache)
    assert tuple(dx.shape) == (40, 50), "dx must have the shape of dout"
    assert torch.allclose(dx * x, out), "the gradient must use the forward pass's mask, scaled by 1 / (1 - p)"
    dout = torch.randn(40, 50, dtype=torch.float64)
    error = check_gradient(lambda x_: dropout.Dropout.forward(x_, param)[0], x, dropout.Dropout.backward(dout, cache), dout)
    assert error < 1e-7, f"Dropout gradient check failed: relative error {error:.2e}"
    _, cache = dropout.Dropout.forward(x, {'mode': 'test', 'p': 0.4})
    assert torch.equal(dropout.Dropout.backward(dout, cache), dout), "in test mode the gradient passes unchanged"



# ---------------------------------------------------------------- notebook 5


@public_check
def batchnorm_forward():
    """Public check of BatchNorm.forward."""
    x = torch.tensor([[1.0, 2.0], [3.0, 6.0]], dtype=torch.float64)   # means [2, 4], variances [1, 4]
    gamma = torch.tensor([1.0, 3.0], dtype=torch.float64)
    beta = torch.tensor([0.0, -1.0], dtype=torch.float64)
    bn_param = {'mode': 'train'}
    out, cache = normalization.BatchNorm.forward(x, gamma, beta, bn_param)
    x_hat = torch.tensor([[-1.0, -1.0], [1.0, 1.0]], dtype=torch.float64) / torch.sqrt(torch.tensor([1.0, 4.0], dtype=torch.float64) + 1e-5) * torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert out.dtype == torch.float64 and tuple(out.shape) == (2, 2), "out must keep the shape and dtype of x"
    assert torch.allclose(out, gamma * x_hat + beta), f"train-mode out =\n{out}\nexpected\n{gamma * x_hat + beta}"
    assert torch.allclose(bn_param['running_mean'], torch.tensor([0.2, 0.4], dtype=torch.float64)), "running_mean: 0.9 * 0 + 0.1 * mean"
    assert torch.allclose(bn_param['running_var'], torch.tensor([0.1, 0.4], dtype=torch.float64)), "running_var: 0.9 * 0 + 0.1 * biased variance"
    test_param = {'mode': 'test', 'running_mean': torch.tensor([1.0, 2.0], dtype=torch.float64),
                  'running_var': torch.tensor([4.0, 1.0], dtype=torch.float64), 'eps': 0.0}
    out, _ = normalization.BatchNorm.forward(x, gamma, beta, test_param)
    expected = torch.tensor([[0.0, -1.0], [1.0, 11.0]], dtype=torch.float64)
    assert torch.allclose(out, expected), f"test mode must use the running statistics: out =\n{out}\nexpected\n{expected}"


def normalization_inputs(seed, shape, scale=1.0, shift=0.0):
    """Random float64 (x, gamma, beta, dout) for a normalization's backward check:
    x and dout of `shape`, x = scale * N(0, 1) + shift; gamma, beta (shape[1],)."""
    torch.manual_seed(seed)
    x = scale * torch.randn(*shape, dtype=torch.float64) + shift
    gamma, beta = torch.randn(shape[1], dtype=torch.float64), torch.randn(shape[1], dtype=torch.float64)
    return x, gamma, beta, torch.randn(*shape, dtype=torch.float64)


def batchnorm_backward_check(backward, seed):
    """BatchNorm's backward (or backward_alt) against numeric gradients on a random batch."""
    x, gamma, beta, dout = normalization_inputs(seed, (6, 4), scale=3, shift=-2)
    bn_forward = lambda x_, g_, b_: normalization.BatchNorm.forward(x_, g_, b_, {'mode': 'train'})
    backward_check(f'BatchNorm.{backward.__name__}', bn_forward, backward, x, gamma, beta, dout)


@public_check
def batchnorm_backward():
    """Public check of BatchNorm.backward."""
    batchnorm_backward_check(normalization.BatchNorm.backward, seed=11)


@public_check
def batchnorm_backward_alt():
    """Public check of BatchNorm.backward_alt."""
    batchnorm_backward_check(normalization.BatchNorm.backward_alt, seed=12)


@public_check
def spatial_batchnorm_forward():
    """Public check of SpatialBatchNorm.forward."""
    torch.manual_seed(13)
    x = torch.randn(3, 4, 5, 6, dtype=torch.float64) * torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64).view(1, 4, 1, 1) + 7
    gamma = torch.tensor([1.0, 0.5, 2.0, 3.0], dtype=torch.float64)
    beta = torch.tensor([0.0, 1.0, -2.0, 5.0], dtype=torch.float64)
    bn_param = {'mode': 'train'}
    out, _ = normalization.SpatialBatchNorm.forward(x, gamma, beta, bn_param)
    assert tuple(out.shape) == (3, 4, 5, 6) and out.dtype == torch.float64, "out must keep the shape and dtype of x"
    assert torch.allclose(out.mean(dim=(0, 2, 3)), beta), "each channel's mean over N, H, W must be beta"
    assert torch.allclose(out.std(dim=(0, 2, 3), unbiased=False), gamma, rtol=1e-4), "each channel's std must be gamma"
    assert tuple(bn_param['running_mean'].shape) == (4,), "running statistics are per channel, shape (C,)"
    assert torch.allclose(bn_param['running_mean'], 0.1 * x.mean(dim=(0, 2, 3))), "running_mean is wrong"


@public_check
def spatial_batchnorm_backward():
    """Public check of SpatialBatchNorm.backward."""
    x, gamma, beta, dout = normalization_inputs(14, (2, 3, 3, 4))
    sbn_forward = lambda x_, g_, b_: normalization.SpatialBatchNorm.forward(x_, g_, b_, {'mode': 'train'})
    backward_check('SpatialBatchNorm.backward', sbn_forward, normalization.SpatialBatchNorm.backward, x, gamma, beta, dout)


@public_check
def layernorm_forward():
    """Public check of LayerNorm.forward."""
    x = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]], dtype=torch.float64)
    gamma = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    beta = torch.tensor([0.5, 0.0, -0.5], dtype=torch.float64)
    out, _ = normalization.LayerNorm.forward(x, gamma, beta, {'eps': 0.0})
    row = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64) * math.sqrt(1.5)   # each row normalized
    expected = torch.stack([gamma * row + beta] * 2)
    assert tuple(out.shape) == (2, 3) and out.dtype == torch.float64, "out must keep the shape and dtype of x"
    assert torch.allclose(out, expected), f"out =\n{out}\nexpected\n{expected}"
    out_eps, _ = normalization.LayerNorm.forward(x, gamma, beta, {})
    assert not torch.allclose(out_eps, expected, rtol=0, atol=1e-9), "the default eps is 1e-5, added to the variance"


@public_check
def layernorm_backward():
    """Public check of LayerNorm.backward."""
    x, gamma, beta, dout = normalization_inputs(15, (5, 6), scale=2, shift=1)
    ln_forward = lambda x_, g_, b_: normalization.LayerNorm.forward(x_, g_, b_, {})
    backward_check('LayerNorm.backward', ln_forward, normalization.LayerNorm.backward, x, gamma, beta, dout)


@public_check
def groupnorm_forward():
    """Public check of GroupNorm.forward."""
    torch.manual_seed(16)
    x = 3 * torch.randn(2, 6, 4, 4, dtype=torch.float64) + 4
    gamma = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], dtype=torch.float64)
    beta = torch.zeros(6, dtype=torch.float64)
    out, _ = normalization.GroupNorm.forward(x, torch.ones(6, dtype=torch.float64), beta, 3, {})
    assert tuple(out.shape) == (2, 6, 4, 4) and out.dtype == torch.float64, "out must keep the shape and dtype of x"
    groups_ = out.reshape(2, 3, -1)
    assert torch.allclose(groups_.mean(dim=2), torch.zeros(2, 3, dtype=torch.float64), atol=1e-9), "each group must have mean 0"
    assert torch.allclose(groups_.std(dim=2, unbiased=False), torch.ones(2, 3, dtype=torch.float64), rtol=1e-4), "each group must have std 1"
    scaled, _ = normalization.GroupNorm.forward(x, gamma, beta, 3, {})
    assert torch.allclose(scaled, out * gamma.view(1, 6, 1, 1)), "gamma scales each channel"
    one_group, _ = normalization.GroupNorm.forward(x, torch.ones(6, dtype=torch.float64), beta, 1, {})
    flat = x.reshape(2, -1)
    assert torch.allclose(one_group.reshape(2, -1), (flat - flat.mean(dim=1, keepdim=True)) / (flat.var(dim=1, unbiased=False, keepdim=True) + 1e-5).sqrt()), "G = 1 normalizes each example over C, H, W"


@public_check
def groupnorm_backward():
    """Public check of GroupNorm.backward."""
    x, gamma, beta, dout = normalization_inputs(17, (2, 6, 3, 3))
    for G in (1, 2, 6):
        gn_forward = lambda x_, g_, b_: normalization.GroupNorm.forward(x_, g_, b_, G, {})
        backward_check(f'GroupNorm.backward with G={G}', gn_forward, normalization.GroupNorm.backward, x, gamma, beta, dout)


@public_check
def train_deep_batchnorm(solver=None, data=None):
    """The deep net with BatchNorm trained in the notebook (solver, with its data).
    Without them, trains one with the notebook's settings first. Returns the accuracies."""
    if solver is None:
        from .data import load_digits
        data = load_digits()
        model = layers.FullyConnectedNet([100] * 6, input_dim=64, normalization='batchnorm',
                                         weight_scale=2e-2, seed=0)
        solver = train(model, data, 'adam', learning_rate=1e-3, batch_size=50, num_epochs=8)
    model = solver.model
    assert model.num_layers >= 5 and model.normalization == 'batchnorm', "train a deep (5+ layers) net with batchnorm"
    assert all(f'gamma{i}' in model.params for i in range(1, model.num_layers)), "every hidden layer needs gamma and beta"
    val_acc = solver.best_val_acc
    test_acc = solver.check_accuracy(data['X_test'], data['y_test'])
    assert val_acc >= 0.9, f"validation accuracy {val_acc:.3f}; reach at least 0.90"
    assert test_acc >= 0.85, f"test accuracy {test_acc:.3f}; expected at least 0.85"
    return f'validation accuracy {val_acc:.3f}, test accuracy {test_acc:.3f}'
