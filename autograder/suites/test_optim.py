"""Hidden tests of scratchnn/optim.py: trajectories against the contract
(torch.optim in float64; the contract's formulas where a learning rate that
changes between steps takes the momentum rules away from torch) on 1-D, 2-D
and 4-D weights, with the defaults, custom hyperparameters, weight decay and
a learning-rate schedule, over 12 steps.

Graded as the contract says: only the returned next_w and the state keys of
the returned config count. A rule may update w and its state in place and
read its hyperparameters with config.get(key, default); dw must stay
unchanged. adamw also earns its points when it is the decoupled decay
followed by the student's own adam (whose mistakes are adam's item).
"""
import pytest
import torch

from autograder.rubric import Graded
from autograder.suites import oracles as O
from autograder.suites import passes as P
from autograder.suites.checks import (F32_TOL, VALUE_TOL, Reference, check, expect_close,
                                      expect_match, expect_tensor, expect_unchanged, unpack)

F64 = torch.float64
RULES = list(O.DEFAULTS)
# Each rule is its own item (adam's includes its helper).
ITEMS = {rule: Graded((f'optim.{rule}',) + (('optim._adam_step',) if rule == 'adam' else ()))
         for rule in RULES}
# rule: points of (test_update_rule, test_state, test_dw_unchanged, test_dtype_and_device);
# sgd keeps no state.
POINTS = {'sgd': (1.6, None, 0.1, 0.3), 'sgd_momentum': (2.2, 0.3, 0.1, 0.4),
          'nesterov': (2.2, 0.3, 0.1, 0.4), 'adagrad': (2.2, 0.3, 0.1, 0.4),
          'rmsprop': (2.2, 0.3, 0.1, 0.4), 'adadelta': (2.2, 0.3, 0.1, 0.4),
          'adam': (2.2, 0.3, 0.1, 0.4), 'adamw': (1.5, 0.2, 0.1, 0.2)}
STEPS = 12
CHECKED_STEPS = (1, 2, 6, STEPS)
# Per rule: non-default hyperparameters (a large epsilon makes its placement matter).
CUSTOM = {
    'sgd': dict(learning_rate=0.05),
    'sgd_momentum': dict(learning_rate=0.03, momentum=0.7),
    'nesterov': dict(learning_rate=0.03, momentum=0.8),
    'adagrad': dict(learning_rate=0.1, epsilon=1e-3),
    'rmsprop': dict(learning_rate=3e-3, decay_rate=0.9, epsilon=1e-3),
    'adadelta': dict(learning_rate=0.5, rho=0.8, epsilon=1e-4),
    'adam': dict(learning_rate=1e-2, beta1=0.8, beta2=0.95, epsilon=1e-3),
    'adamw': dict(learning_rate=1e-2, beta1=0.8, beta2=0.95, epsilon=1e-3, weight_decay=0.1),
}
SHAPES = {'2d': (7, 5), '1d': (9,), '4d': (3, 2, 2, 2)}


def config_of(rule, name):
    """(config to pass, learning rate per step or None)."""
    if name == 'defaults':
        return None, None
    if name == 'learning-rate-only':
        return {'learning_rate': CUSTOM[rule]['learning_rate']}, None
    if name == 'custom':
        return dict(CUSTOM[rule]), None
    if name == 'weight-decay':
        return {**CUSTOM[rule], 'weight_decay': 0.3 if rule != 'adamw' else 0.5}, None
    lr = CUSTOM[rule]['learning_rate']   # 'schedule': halved every 4 steps, as lr_decay does
    return dict(CUSTOM[rule]), [lr * 0.5 ** (step // 4) for step in range(STEPS)]


CASES = [(c, '2d') for c in ('defaults', 'learning-rate-only', 'custom', 'weight-decay',
                             'schedule')] + [('custom', '1d'), ('custom', '4d')]
SHAPE_STEPS = 3    # a rule that only works on matrices fails at its first step on the others


def inputs(rule, case, shape_id, steps=STEPS):
    seed = 1000 + 100 * RULES.index(rule) + 10 * CASES.index((case, shape_id))
    shape = SHAPES[shape_id]
    return O.randn(*shape, seed=seed), O.gradient_sequence(shape, steps, seed=seed + 1)


def run_rule(student, rule, w0, grads, config, learning_rates=None, what=''):
    """The student's trajectory, fed back the way the Solver does: ([next_w
    after each step], the final returned config)."""
    w, trajectory = w0, []
    for step, g in enumerate(grads, 1):
        if learning_rates is not None:
            config = {**(config or {}), 'learning_rate': learning_rates[step - 1]}
        res = student.call(f'optim.{rule}', w, g, config)
        next_w, config = unpack(res.value, 2, rule, '(next_w, config)')
        expect_tensor(next_w, f"{rule} {what}: next_w at step {step}", shape=w0.shape)
        check(isinstance(config, dict), f"{rule} {what}: config must be returned as a dict")
        trajectory.append(next_w)
        w = next_w
    return trajectory, config


def adamw_by_own_adam(student, w0, grads, config, learning_rates):
    """AdamW as the contract builds it from Adam: w * (1 - lr * weight_decay),
    then the student's own adam step (without weight decay) on dw."""
    hyper = {**O.DEFAULTS['adamw'], **(config or {})}
    state, w, trajectory = {}, w0, []
    for step, g in enumerate(grads):
        lr = hyper['learning_rate'] if learning_rates is None else learning_rates[step]
        adam_config = {**state, **{k: hyper[k] for k in ('beta1', 'beta2', 'epsilon')},
                       'learning_rate': lr, 'weight_decay': 0.0}
        w, state = unpack(student.call('optim.adam', w * (1 - lr * hyper['weight_decay']), g,
                                       adam_config).value, 2, 'adam', '(next_w, config)')
        check(isinstance(state, dict), "adam: config must be returned as a dict")
        trajectory.append(w)
    return trajectory


def rule_params(test, cases=(None,)):
    """Params of a test over the rules it checks (those with points for it,
    POINTS[rule][test]), each marked with its rule's item."""
    return [pytest.param(r, *([c] if c else []), id='-'.join([r, *(c if c else ())]),
                         marks=pytest.mark.item(r, points=POINTS[r][test]))
            for r in RULES if POINTS[r][test] is not None for c in cases]


@pytest.mark.parametrize('rule, case', rule_params(0, CASES))
def test_update_rule(student, rule, case):
    """next_w after 1, 2, 6 and 12 steps (3 steps on 1-D and 4-D weights) is the contract's."""
    config_name, shape_id = case
    steps = STEPS if shape_id == '2d' else SHAPE_STEPS
    checked = CHECKED_STEPS if shape_id == '2d' else tuple(range(1, SHAPE_STEPS + 1))
    w0, grads = inputs(rule, config_name, shape_id, steps)
    config, lrs = config_of(rule, config_name)
    what = f"with {config_name.replace('-', ' ')} ({config}) on a {shape_id} weight {SHAPES[shape_id]}"
    if lrs:
        what = f"with the learning rate halved every 4 steps from {lrs[0]} on a {shape_id} weight"
    want, _ = O.reference_trajectory(rule, w0, grads, config, lrs)
    got, _ = run_rule(student, rule, w0, grads, None if config is None else dict(config), lrs, what)
    def after(trajectory):
        return {f"w after {s} step{'s' * (s > 1)}": trajectory[s - 1] for s in checked}

    references = [Reference('the contract', lambda: after(want), VALUE_TOL)]
    if rule == 'adamw':
        references.append(Reference('the decoupled decay, then your own adam', lambda: after(
            adamw_by_own_adam(student, w0, grads, config, lrs)), VALUE_TOL))
    expect_match(f"{rule} {what}", after(got), references)


@pytest.mark.parametrize('rule', rule_params(1))
def test_state(student, rule):
    """The returned config holds the rule's state keys with the contract's values
    (bookkeeping: its own small test)."""
    steps = 4
    w0, grads = inputs(rule, 'custom', '2d', steps)
    _, want = O.reference_trajectory(rule, w0, grads, CUSTOM[rule])
    _, state = run_rule(student, rule, w0, grads, dict(CUSTOM[rule]), what='with custom config')
    for key, value in want.items():
        check(key in state, f"{rule}: the returned config has no '{key}' after {steps} steps "
                            f"(its state keys are {sorted(want)})")
        if key == 't':
            check(isinstance(state[key], (int, float, torch.Tensor)) and int(state[key]) == value,
                  f"{rule}: config['t'] is {state[key]!r} after {steps} steps, expected {value}")
        else:
            expect_match(f"{rule}: config['{key}'] after {steps} steps", {key: state[key]},
                         [Reference('the contract', lambda key=key: {key: want[key]}, VALUE_TOL)])


def check_two_steps(student, rule, w0, dw, config, what):
    """The rule's next_w after two steps on (w0, dw) is the contract's (or, for
    adamw, the decay and then the student's own adam); returns [next_w, ...]."""
    got, _ = run_rule(student, rule, w0, [dw, dw], dict(config), what=what)
    want, _ = O.reference_trajectory(rule, w0, [dw, dw], config)
    references = [Reference('the contract', lambda: {'w after 2 steps': want[1]}, VALUE_TOL)]
    if rule == 'adamw':
        references.append(Reference('the decoupled decay, then your own adam', lambda: {
            'w after 2 steps': adamw_by_own_adam(student, w0, [dw, dw], config, None)[1]},
            VALUE_TOL))
    expect_match(f"{rule} {what}", {'w after 2 steps': got[1]}, references)
    return got


@pytest.mark.parametrize('rule', rule_params(2))
def test_dw_unchanged(student, rule):
    """dw is never modified (w may be: the contract allows in-place updates);
    counted once the update is right."""
    w, dw = O.randn(4, 3, seed=1), O.non_contiguous(O.randn(4, 3, seed=2))
    config = {**CUSTOM[rule], 'weight_decay': 0.1}
    check_two_steps(student, rule, w, dw, config, "with weight decay")
    for step in (1, 2):
        res = student.call(f'optim.{rule}', w, dw, config)
        expect_unchanged(res.args[1], dw, f"{rule}: dw at step {step}")
        w, config = unpack(res.value, 2, rule, '(next_w, config)')


@pytest.mark.parametrize('rule', rule_params(3))
def test_dtype_and_device(student, rule):
    """next_w (right in float64) keeps the dtype and device of w over two steps
    (state included), and in float32 agrees with the student's float64 result."""
    w0, dw = O.randn(4, 3, seed=1), O.randn(4, 3, seed=2)
    got64 = check_two_steps(student, rule, w0, dw, CUSTOM[rule], "with custom config")
    for device, dtype in P.dtype_device_cases():
        w, config = w0.to(device=device, dtype=dtype), dict(CUSTOM[rule])
        for step in (1, 2):
            next_w, config = unpack(student.call(f'optim.{rule}', w, dw.to(device=device, dtype=dtype),
                                                 config).value, 2, rule, '(next_w, config)')
            what = f"{rule}: next_w for {dtype} weights on {device}, step {step}"
            expect_tensor(next_w, what, shape=(4, 3), dtype=dtype, device=device)
            if device == 'cpu':
                expect_close(next_w, got64[step - 1], f"{what}, against your float64 result",
                             tol=F32_TOL)
            w = next_w
