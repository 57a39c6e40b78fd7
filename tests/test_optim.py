"""scratchnn.optim against torch.optim: 60-step trajectories in float64.

Each step both optimizers see the gradient of the same smooth, non-quadratic
loss at their own current weights, so any difference in the rule compounds.
"""
import pytest
import torch

from autograder.suites import oracles
from autograder.suites.checks import rel_error
from scratchnn import optim

f64 = torch.float64
STEPS = 60

# (our rule, our config, torch optimizer, its kwargs): the pairs the contract declares equal.
CASES = {
    'sgd': ('sgd', {'learning_rate': 0.05}, torch.optim.SGD, {'lr': 0.05}),
    'sgd_wd': ('sgd', {'learning_rate': 0.05, 'weight_decay': 0.1},
               torch.optim.SGD, {'lr': 0.05, 'weight_decay': 0.1}),
    'momentum': ('sgd_momentum', {'learning_rate': 0.02, 'momentum': 0.8},
                 torch.optim.SGD, {'lr': 0.02, 'momentum': 0.8}),
    'momentum_wd': ('sgd_momentum', {'learning_rate': 0.02, 'momentum': 0.9, 'weight_decay': 0.05},
                    torch.optim.SGD, {'lr': 0.02, 'momentum': 0.9, 'weight_decay': 0.05}),
    'nesterov': ('nesterov', {'learning_rate': 0.02, 'momentum': 0.9},
                 torch.optim.SGD, {'lr': 0.02, 'momentum': 0.9, 'nesterov': True}),
    'nesterov_wd': ('nesterov', {'learning_rate': 0.01, 'momentum': 0.7, 'weight_decay': 0.2},
                    torch.optim.SGD, {'lr': 0.01, 'momentum': 0.7, 'nesterov': True, 'weight_decay': 0.2}),
    'adagrad': ('adagrad', {'learning_rate': 0.1, 'epsilon': 1e-8},
                torch.optim.Adagrad, {'lr': 0.1, 'eps': 1e-8}),
    'adagrad_wd': ('adagrad', {'learning_rate': 0.1, 'epsilon': 1e-6, 'weight_decay': 0.1},
                   torch.optim.Adagrad, {'lr': 0.1, 'eps': 1e-6, 'weight_decay': 0.1}),
    'rmsprop': ('rmsprop', {'learning_rate': 0.01, 'decay_rate': 0.95, 'epsilon': 1e-8},
                torch.optim.RMSprop, {'lr': 0.01, 'alpha': 0.95, 'eps': 1e-8}),
    'rmsprop_wd': ('rmsprop', {'learning_rate': 0.005, 'decay_rate': 0.9, 'epsilon': 1e-7,
                               'weight_decay': 0.05},
                   torch.optim.RMSprop, {'lr': 0.005, 'alpha': 0.9, 'eps': 1e-7, 'weight_decay': 0.05}),
    'adadelta': ('adadelta', {'learning_rate': 1.0, 'rho': 0.9, 'epsilon': 1e-6},
                 torch.optim.Adadelta, {'lr': 1.0, 'rho': 0.9, 'eps': 1e-6}),
    'adadelta_wd': ('adadelta', {'learning_rate': 0.5, 'rho': 0.8, 'epsilon': 1e-4, 'weight_decay': 0.1},
                    torch.optim.Adadelta, {'lr': 0.5, 'rho': 0.8, 'eps': 1e-4, 'weight_decay': 0.1}),
    'adam': ('adam', {'learning_rate': 0.01, 'beta1': 0.9, 'beta2': 0.999, 'epsilon': 1e-8},
             torch.optim.Adam, {'lr': 0.01, 'betas': (0.9, 0.999), 'eps': 1e-8}),
    'adam_wd': ('adam', {'learning_rate': 0.02, 'beta1': 0.8, 'beta2': 0.99, 'epsilon': 1e-6,
                         'weight_decay': 0.1},
                torch.optim.Adam, {'lr': 0.02, 'betas': (0.8, 0.99), 'eps': 1e-6, 'weight_decay': 0.1}),
    'adamw': ('adamw', {'learning_rate': 0.01, 'weight_decay': 0.1},
              torch.optim.AdamW, {'lr': 0.01, 'weight_decay': 0.1}),
    'adamw_betas': ('adamw', {'learning_rate': 0.02, 'beta1': 0.85, 'beta2': 0.98, 'epsilon': 1e-7,
                              'weight_decay': 0.3},
                    torch.optim.AdamW, {'lr': 0.02, 'betas': (0.85, 0.98), 'eps': 1e-7,
                                        'weight_decay': 0.3}),
}

# Our defaults spelled out as torch kwargs: a rule called with config=None
# must follow the same trajectory.
DEFAULTS = {
    'sgd': (torch.optim.SGD, {'lr': 1e-2}),
    'sgd_momentum': (torch.optim.SGD, {'lr': 1e-2, 'momentum': 0.9}),
    'nesterov': (torch.optim.SGD, {'lr': 1e-2, 'momentum': 0.9, 'nesterov': True}),
    'adagrad': (torch.optim.Adagrad, {'lr': 1e-2, 'eps': 1e-8}),
    'rmsprop': (torch.optim.RMSprop, {'lr': 1e-2, 'alpha': 0.99, 'eps': 1e-8}),
    'adadelta': (torch.optim.Adadelta, {'lr': 1.0, 'rho': 0.9, 'eps': 1e-6}),
    'adam': (torch.optim.Adam, {'lr': 1e-3, 'betas': (0.9, 0.999), 'eps': 1e-8}),
    'adamw': (torch.optim.AdamW, {'lr': 1e-3, 'betas': (0.9, 0.999), 'eps': 1e-8, 'weight_decay': 1e-2}),
}

TARGET = torch.linspace(-2, 3, 12, dtype=f64).reshape(3, 4)


def loss_grad(w):
    """Gradient of sum(cosh(w - target)) + 0.1 * sum(w**3 / 3): smooth, not
    quadratic, different curvature per element."""
    return torch.sinh(w - TARGET) + 0.1 * w * w


def w0(seed=0):
    return torch.randn(3, 4, dtype=f64, generator=torch.Generator().manual_seed(seed))


def torch_trajectory(optimizer_class, kwargs, steps=STEPS):
    p = w0().requires_grad_(True)
    opt = optimizer_class([p], **kwargs)
    path = []
    for _ in range(steps):
        p.grad = loss_grad(p.detach())
        opt.step()
        path.append(p.detach().clone())
    return path


def our_trajectory(rule, config, steps=STEPS):
    w = w0()
    path = []
    for _ in range(steps):
        w, config = rule(w, loss_grad(w), config)
        path.append(w)
    return path


@pytest.mark.parametrize('case', list(CASES))
def test_trajectory_matches_torch_optim(case):
    name, config, optimizer_class, kwargs = CASES[case]
    ours = our_trajectory(getattr(optim, name), dict(config))
    ref = torch_trajectory(optimizer_class, kwargs)
    moved = (ref[-1] - w0()).norm().item()
    assert moved > 0.1  # the trajectory goes somewhere, so it can differ
    for step, (a, b) in enumerate(zip(ours, ref)):
        assert rel_error(a, b) < 1e-10, f"step {step + 1}"


@pytest.mark.parametrize('name', list(DEFAULTS))
def test_defaults_match_torch_optim(name):
    optimizer_class, kwargs = DEFAULTS[name]
    ours = our_trajectory(getattr(optim, name), None)
    ref = torch_trajectory(optimizer_class, kwargs)
    for step, (a, b) in enumerate(zip(ours, ref)):
        assert rel_error(a, b) < 1e-10, f"step {step + 1}"


STATE_KEYS = {'sgd': set(), 'sgd_momentum': {'velocity'}, 'nesterov': {'velocity'},
              'adagrad': {'cache'}, 'rmsprop': {'cache'}, 'adadelta': {'cache', 'delta'},
              'adam': {'m', 'v', 't'}, 'adamw': {'m', 'v', 't'}}
HYPER_KEYS = {'sgd': {'learning_rate', 'weight_decay'},
              'sgd_momentum': {'learning_rate', 'momentum', 'weight_decay'},
              'nesterov': {'learning_rate', 'momentum', 'weight_decay'},
              'adagrad': {'learning_rate', 'epsilon', 'weight_decay'},
              'rmsprop': {'learning_rate', 'decay_rate', 'epsilon', 'weight_decay'},
              'adadelta': {'learning_rate', 'rho', 'epsilon', 'weight_decay'},
              'adam': {'learning_rate', 'beta1', 'beta2', 'epsilon', 'weight_decay'},
              'adamw': {'learning_rate', 'beta1', 'beta2', 'epsilon', 'weight_decay'}}


@pytest.mark.parametrize('name', list(STATE_KEYS))
def test_config_holds_defaults_and_state(name):
    rule = getattr(optim, name)
    w = w0()
    w_copy = w.clone()
    next_w, config = rule(w, loss_grad(w))
    assert set(config) == HYPER_KEYS[name] | STATE_KEYS[name]
    assert torch.equal(w, w_copy), "w was modified in place"
    assert next_w is not w and next_w.shape == w.shape
    for key in STATE_KEYS[name] - {'t'}:
        assert config[key].shape == w.shape, key
    if 't' in config:
        assert config['t'] == 1
        rule(next_w, loss_grad(next_w), config)
        assert config['t'] == 2


@pytest.mark.parametrize('name', list(STATE_KEYS))
def test_config_is_updated_in_the_dict_passed(name):
    """The Solver keeps one dict per parameter and relies on getting it back."""
    config = {}
    w = w0()
    for _ in range(3):
        w, returned = getattr(optim, name)(w, loss_grad(w), config)
        assert returned is config


def test_adamw_decay_is_decoupled():
    """One step from zero moments: adamw = adam on dw, applied to w * (1 - lr*wd)."""
    w, dw = w0(), loss_grad(w0())
    got, _ = optim.adamw(w, dw, {'learning_rate': 0.1, 'weight_decay': 0.5})
    adam_step, _ = optim.adam(w * (1 - 0.1 * 0.5), dw, {'learning_rate': 0.1})
    coupled, _ = optim.adam(w, dw, {'learning_rate': 0.1, 'weight_decay': 0.5})
    assert rel_error(got, adam_step) < 1e-14
    assert rel_error(got, coupled) > 1e-3


@pytest.mark.parametrize('case', list(CASES))
def test_the_suites_torch_optimizers_take_the_same_hyperparameters(case):
    """oracles.torch_optimizer (what the hidden suites and the training runs
    use) translates our config into the torch kwargs spelled out above."""
    name, config, optimizer_class, kwargs = CASES[case]
    opt = oracles.torch_optimizer(name, [w0()], config)
    assert type(opt) is optimizer_class
    group = opt.param_groups[0]
    for key, value in kwargs.items():
        assert group[key] == value, key
    _, default_kwargs = DEFAULTS[name]
    defaults = oracles.torch_optimizer(name, [w0()]).param_groups[0]
    assert all(defaults[k] == v for k, v in default_kwargs.items())


@pytest.mark.parametrize('name', ['sgd_momentum', 'nesterov'])
def test_contract_momentum_formulas_follow_torch_at_a_constant_rate_and_leave_it_on_a_schedule(name):
    """oracles.reference_trajectory follows the contract's velocity (-lr g terms):
    torch.optim's at a constant learning rate, and the package's on a schedule."""
    grads = oracles.gradient_sequence((3, 4), 12, seed=5)
    config = {'learning_rate': 0.03, 'momentum': 0.8, 'weight_decay': 0.1}
    constant, state = oracles.reference_trajectory(name, w0(), grads, config, [0.03] * 12)
    torch_path, torch_state = oracles.torch_trajectory(name, w0(), grads, config)
    assert all(rel_error(a, b) < 1e-13 for a, b in zip(constant, torch_path))
    assert rel_error(state['velocity'], torch_state['velocity']) < 1e-13
    rates = [0.03 * 0.5 ** (k // 4) for k in range(12)]
    scheduled, _ = oracles.reference_trajectory(name, w0(), grads, config, rates)
    w, ours = w0(), dict(config)
    for g, lr in zip(grads, rates):
        ours['learning_rate'] = lr
        w, ours = getattr(optim, name)(w, g, ours)
    assert rel_error(w, scheduled[-1]) < 1e-13
    p = w0()   # torch.optim on the same schedule keeps g terms in its buffer: another path
    opt = oracles.torch_optimizer(name, [p], config)
    for g, lr in zip(grads, rates):
        opt.param_groups[0]['lr'], p.grad = lr, g.clone()
        opt.step()
    assert rel_error(p.detach(), scheduled[-1]) > 1e-3
