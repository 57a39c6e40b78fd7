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
from autograder.suites.checks import (F32_TOL, NOTES, VALUE_TOL, Failure, Reference, check,
                                      expect_close, expect_match, expect_tensor, expect_unchanged,
                                      unpack)

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
# Per rule: the hyperparameters the contract lets be 0 (or 0.0), at 0: a rule
# that takes a falsy value for an absent one (`config.get('momentum') or 0.9`)
# uses its default instead.
ZEROS = {
    'sgd': dict(learning_rate=0.05, weight_decay=0.0),
    'sgd_momentum': dict(learning_rate=0.03, momentum=0.0),
    'nesterov': dict(learning_rate=0.03, momentum=0.0),
    'adagrad': dict(learning_rate=0.1, epsilon=0.0),
    'rmsprop': dict(learning_rate=3e-3, decay_rate=0.0, epsilon=0.0),
    'adadelta': dict(learning_rate=0.5, rho=0.0),
    'adam': dict(learning_rate=1e-2, beta2=0.0, epsilon=0.0, t=0),   # beta1=0 hides m's bias
    'adamw': dict(learning_rate=1e-2, beta1=0.0, epsilon=0.0, weight_decay=0.0),
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
    if name == 'zeros':   # a constant rate given per step: momentum 0 is no torch Nesterov
        return dict(ZEROS[rule]), [ZEROS[rule]['learning_rate']] * STEPS
    lr = CUSTOM[rule]['learning_rate']   # 'schedule': halved every 4 steps, as lr_decay does
    return dict(CUSTOM[rule]), [lr * 0.5 ** (step // 4) for step in range(STEPS)]


IN_TURN = 'two-weights-in-turn-and-fresh-runs'   # the state scenario (check_state_is_the_configs)
CASES = [(c, '2d') for c in ('defaults', 'learning-rate-only', 'custom', 'weight-decay',
                             'schedule', 'zeros', IN_TURN)] + [('custom', '1d'), ('custom', '4d')]
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


def own_adamw_step(student, w, g, hyper, state, lr):
    """One AdamW step as the contract builds it from Adam: w * (1 - lr *
    weight_decay), then the student's own adam step (without weight decay) on
    g; hyper: adamw's hyperparameters, state: adam's config of the last step.
    Returns (next_w, adam's config, g as adam left it)."""
    adam_config = {**state, **{k: hyper[k] for k in ('beta1', 'beta2', 'epsilon')},
                   'learning_rate': lr, 'weight_decay': 0.0}
    res = student.call('optim.adam', w * (1 - lr * hyper['weight_decay']), g, adam_config)
    w, state = unpack(res.value, 2, 'adam', '(next_w, config)')
    check(isinstance(state, dict), "adam: config must be returned as a dict")
    return w, state, res.args[1]


def adamw_by_own_adam(student, w0, grads, config, learning_rates):
    """AdamW's trajectory as the contract builds it from the student's own adam,
    and adam's config (the state) after the last step."""
    hyper = {**O.DEFAULTS['adamw'], **(config or {})}
    state, w, trajectory = {}, w0, []
    for step, g in enumerate(grads):
        lr = hyper['learning_rate'] if learning_rates is None else learning_rates[step]
        w, state, _ = own_adamw_step(student, w, g, hyper, state, lr)
        trajectory.append(w)
    return trajectory, state


def rule_params(test, cases=(None,)):
    """Params of a test over the rules it checks (those with points for it,
    POINTS[rule][test]), each marked with its rule's item."""
    return [pytest.param(r, *([c] if c else []), id='-'.join([r, *(c if c else ())]),
                         marks=pytest.mark.item(r, points=POINTS[r][test]))
            for r in RULES if POINTS[r][test] is not None for c in cases]


@pytest.mark.parametrize('rule, case', rule_params(0, CASES))
def test_update_rule(student, rule, case):
    """next_w after 1, 2, 6 and 12 steps (3 steps on 1-D and 4-D weights) is the contract's;
    the state scenario (IN_TURN) keeps each weight's state in its own config."""
    config_name, shape_id = case
    if config_name == IN_TURN:
        check_state_is_the_configs(student, rule)
        return
    steps = STEPS if shape_id == '2d' else SHAPE_STEPS
    checked = CHECKED_STEPS if shape_id == '2d' else tuple(range(1, SHAPE_STEPS + 1))
    w0, grads = inputs(rule, config_name, shape_id, steps)
    config, lrs = config_of(rule, config_name)
    what = f"with {config_name.replace('-', ' ')} ({config}) on a {shape_id} weight {SHAPES[shape_id]}"
    if config_name == 'schedule':
        what = f"with the learning rate halved every 4 steps from {lrs[0]} on a {shape_id} weight"
    want, _ = O.reference_trajectory(rule, w0, grads, config, lrs)
    got, _ = run_rule(student, rule, w0, grads, None if config is None else dict(config), lrs, what)
    def after(trajectory):
        return {f"w after {s} step{'s' * (s > 1)}": trajectory[s - 1] for s in checked}

    references = [Reference('the contract', lambda: after(want), VALUE_TOL)]
    if rule == 'adamw':
        references.append(Reference('the decoupled decay, then your own adam', lambda: after(
            adamw_by_own_adam(student, w0, grads, config, lrs)[0]), VALUE_TOL))
    expect_match(f"{rule} {what}", after(got), references)


def student_step(student, rule):
    """step(w, dw, config) -> (next_w, config) by the student's rule."""
    def step(w, dw, config):
        next_w, config = unpack(student.call(f'optim.{rule}', w, dw, config).value, 2, rule,
                                '(next_w, config)')
        check(isinstance(config, dict), f"{rule}: config must be returned as a dict")
        return next_w, config
    return step


def own_adamw_stepper(student):
    """step(w, dw, config) -> (next_w, config) of AdamW built from the student's own
    adam; its config is (adamw's hyperparameters, adam's config) after a step."""
    def step(w, dw, config):
        if isinstance(config, tuple):
            hyper, state = config
        else:
            hyper, state = {**O.DEFAULTS['adamw'], **(config or {})}, {}
        w, state, _ = own_adamw_step(student, w, dw, hyper, state, hyper['learning_rate'])
        return w, (hyper, state)
    return step


# The state scenario: where state lives besides the config (a module-level dict
# keyed by shape, a defaults dict shared by every config=None call) shows only
# with two weights of one shape updated in turn and with runs started afresh.
FRESH_STARTS = {'config=None, first run': None, 'config=None, second run': None,
                'config={}': {}}


def state_scenario(rule, step):
    """{what: next_w} of the state scenario run with step(w, dw, config): two
    weights of one shape, each with its own config, updated in turn for 3
    steps; then three 2-step runs of the first started afresh (FRESH_STARTS)."""
    (wa, ga), (wb, gb) = inputs(rule, 'custom', '2d', 3), inputs(rule, 'schedule', '2d', 3)
    configs, weights = [dict(CUSTOM[rule]), dict(CUSTOM[rule])], [wa, wb]
    for k in range(3):
        for i, g in enumerate((ga[k], gb[k])):
            weights[i], configs[i] = step(weights[i], g, configs[i])
    found = {'the first weight after 3 steps in turn': weights[0],
             'the second weight after 3 steps in turn': weights[1]}
    for name, start in FRESH_STARTS.items():
        w, config = wa, None if start is None else dict(start)
        for g in ga[:2]:
            w, config = step(w, g, config)
        found[f'w after 2 steps from {name}'] = w
    return found


def contract_state_scenario(rule):
    """state_scenario's results by the contract (every weight on its own)."""
    (wa, ga), (wb, gb) = inputs(rule, 'custom', '2d', 3), inputs(rule, 'schedule', '2d', 3)
    found = {'the first weight after 3 steps in turn': O.reference_trajectory(
                 rule, wa, ga, CUSTOM[rule])[0][-1],
             'the second weight after 3 steps in turn': O.reference_trajectory(
                 rule, wb, gb, CUSTOM[rule])[0][-1]}
    for name in FRESH_STARTS:
        found[f'w after 2 steps from {name}'] = O.reference_trajectory(rule, wa, ga[:2], None)[0][-1]
    return found


def check_state_is_the_configs(student, rule):
    """The rule's state lives in the config it is given and returns, and nowhere
    else: the state scenario gives the contract's weights (adamw: or those of
    the decoupled decay and the student's own adam)."""
    got = state_scenario(rule, student_step(student, rule))
    references = [Reference('the contract', lambda: contract_state_scenario(rule), VALUE_TOL)]
    if rule == 'adamw':
        references.append(Reference('the decoupled decay, then your own adam',
                                    lambda: state_scenario(rule, own_adamw_stepper(student)),
                                    VALUE_TOL))
    expect_match(f"{rule} (each weight's state kept in its own config, runs started afresh "
                 "from config=None and from {})", got, references)


@pytest.mark.parametrize('rule', rule_params(1))
def test_state(student, rule):
    """The returned config holds the rule's state keys with the contract's values
    (bookkeeping: its own small test)."""
    steps = 4
    w0, grads = inputs(rule, 'custom', '2d', steps)
    _, want = O.reference_trajectory(rule, w0, grads, CUSTOM[rule])
    _, state = run_rule(student, rule, w0, grads, dict(CUSTOM[rule]), what='with custom config')
    try:
        check_state(rule, state, want, steps)
    except Failure:
        if rule != 'adamw':
            raise
        own = adamw_by_own_adam(student, w0, grads, CUSTOM[rule], None)[1]
        check_state(rule, state, {k: own.get(k) for k in want}, steps,
                    "(nor as the decoupled decay, then your own adam, leave it)")
        NOTES.append(f"{rule}: the state is your own adam's, not the contract's (see adam)")


def check_state(rule, state, want, steps, how=''):
    """The returned config holds every state key of `want` with its value."""
    for key, value in want.items():
        check(key in state, f"{rule}: the returned config has no '{key}' after {steps} steps "
                            f"(its state keys are {sorted(want)}) {how}")
        if key == 't':
            check(isinstance(state[key], (int, float, torch.Tensor))
                  and isinstance(value, (int, float, torch.Tensor)) and int(state[key]) == int(value),
                  f"{rule}: config['t'] is {state[key]!r} after {steps} steps, expected {value} {how}")
        else:
            check(isinstance(value, torch.Tensor), f"{rule}: config['{key}'] cannot be compared {how}")
            expect_match(f"{rule}: config['{key}'] after {steps} steps {how}", {key: state[key]},
                         [Reference('the contract', lambda key=key: {key: value}, VALUE_TOL)])


def check_two_steps(student, rule, w0, dw, config, what):
    """The rule's next_w after two steps on (w0, dw) is the contract's (or, for
    adamw, the decay and then the student's own adam); returns [next_w, ...]."""
    got, _ = run_rule(student, rule, w0, [dw, dw], dict(config), what=what)
    want, _ = O.reference_trajectory(rule, w0, [dw, dw], config)
    references = [Reference('the contract', lambda: {'w after 2 steps': want[1]}, VALUE_TOL)]
    if rule == 'adamw':
        references.append(Reference('the decoupled decay, then your own adam', lambda: {
            'w after 2 steps': adamw_by_own_adam(student, w0, [dw, dw], config, None)[0][1]},
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
    hyper, state = {**O.DEFAULTS['adamw'], **config}, {}
    for step in (1, 2):
        res = student.call(f'optim.{rule}', w, dw, config)
        if rule == 'adamw' and not torch.equal(res.args[1], dw):
            _, state, own_dw = own_adamw_step(student, w, dw, hyper, state, hyper['learning_rate'])
            if torch.equal(res.args[1], own_dw):
                NOTES.append("adamw: dw modified in place, as your own adam modifies it: "
                             "charged to adam, not here")
                return
        expect_unchanged(res.args[1], dw, f"{rule}: dw at step {step}")
        w, config = unpack(res.value, 2, rule, '(next_w, config)')


@pytest.mark.parametrize('rule', rule_params(3))
def test_dtype_and_device(student, rule):
    """next_w (right in float64) keeps the dtype and device of w over two steps
    (state included), and in float32 agrees with the student's float64 result."""
    w0, dw = O.randn(4, 3, seed=1), O.randn(4, 3, seed=2)
    got64 = check_two_steps(student, rule, w0, dw, CUSTOM[rule], "with custom config")
    for device, dtype in P.dtype_device_cases():
        w, g = w0.to(device=device, dtype=dtype), dw.to(device=device, dtype=dtype)
        why = dtype_and_device_problem(student_step(student, rule), w, g, got64, rule)
        # AdamW is the decay and then adam: where its own adam breaks them, adam pays.
        if why and rule == 'adamw' and dtype_and_device_problem(own_adamw_stepper(student), w, g,
                                                                got64, rule):
            NOTES.append(f"{why}, as the decoupled decay and then your own adam give it: "
                         "charged to adam, not here")
            continue
        check(not why, why)


def dtype_and_device_problem(step, w, dw, got64, rule):
    """Why two steps of step(w, dw, config) do not keep w's dtype and device or,
    in float32, disagree with the float64 result got64 ('' when they do)."""
    config = dict(CUSTOM[rule])
    try:
        for k in (1, 2):
            next_w, config = step(w, dw, config)
            what = f"{rule}: next_w for {w.dtype} weights on {w.device.type}, step {k}"
            expect_tensor(next_w, what, shape=(4, 3), dtype=w.dtype, device=w.device.type)
            if w.device.type == 'cpu':
                expect_close(next_w, got64[k - 1], f"{what}, against your float64 result",
                             tol=F32_TOL)
            w = next_w
    except Failure as e:
        return str(e)
    return ''
