"""Hidden tests of scratchnn/optim.py: 60-step trajectories against torch.optim
in float64 (defaults, custom hyperparameters, weight decay), the state each
rule keeps, inputs left unchanged, dtypes and devices.
"""
import pytest
import torch

from autograder.suites import oracles as O
from autograder.suites.oracles import check, expect_close, expect_tensor

STEPS = 60
SHAPE = (7, 5)
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


def run_rule(student, rule, w0, grads, config, what):
    """The student's trajectory; checks each step leaves w and dw unchanged.
    Returns ([w after each step], final config)."""
    w, trajectory = w0, []
    for step, g in enumerate(grads, 1):
        res = student.call(f'optim.{rule}', w, g, config)
        next_w, config = O.unpack(res.value, 2, rule, '(next_w, config)')
        if step == 1:
            O.expect_unchanged(res.args[0], w, f"{rule} {what}: w")
            O.expect_unchanged(res.args[1], g, f"{rule} {what}: dw")
        expect_tensor(next_w, f"{rule} {what}: next_w at step {step}", shape=w0.shape)
        check(isinstance(config, dict), f"{rule} {what}: config must be returned as a dict")
        trajectory.append(next_w)
        w = next_w
    return trajectory, config


def check_trajectory(student, rule, config, what, seed, check_state=True):
    w0 = O.randn(*SHAPE, seed=seed)
    grads = O.gradient_sequence(SHAPE, STEPS, seed=seed + 1)
    want, want_state = O.torch_trajectory(rule, w0, grads, config)
    got, state = run_rule(student, rule, w0, grads, None if config is None else dict(config), what)
    for step in (1, 2, 10, STEPS):
        expect_close(got[step - 1], want[step - 1], f"{rule} {what}: w after {step} steps", tol=1e-9)
    if not check_state:
        return
    for key, value in want_state.items():
        check(key in state, f"{rule} {what}: config has no '{key}' after {STEPS} steps "
                            f"(the state keys are {sorted(want_state)})")
        if key == 't':
            check(isinstance(state[key], (int, float, torch.Tensor)) and int(state[key]) == value,
                  f"{rule} {what}: config['t'] is {state[key]!r} after {STEPS} steps, expected {value}")
        else:
            expect_close(state[key], value, f"{rule} {what}: config['{key}'] after {STEPS} steps",
                         tol=1e-9)
    for key, value in O.DEFAULTS[rule].items():
        expected = (config or {}).get(key, value)
        check(key in state and state[key] == expected,
              f"{rule} {what}: config['{key}'] is {state.get(key)!r}, expected {expected!r}")


def check_rule(student, rule, seed):
    check_trajectory(student, rule, None, "with config=None (the defaults)", seed)
    partial = {'learning_rate': CUSTOM[rule]['learning_rate']}
    check_trajectory(student, rule, partial, f"with config={partial}", seed + 10)
    check_trajectory(student, rule, CUSTOM[rule], f"with config={CUSTOM[rule]}", seed + 20)
    decayed = {**CUSTOM[rule], 'weight_decay': 0.3 if rule != 'adamw' else 0.5}
    check_trajectory(student, rule, decayed, f"with weight_decay={decayed['weight_decay']}",
                     seed + 30)


def check_devices(student, rule):
    cases = [('cpu', torch.float32)] + [(d, torch.float64) for d in O.extra_devices()]
    for device, dtype in cases:
        w = O.randn(4, 3, seed=1, dtype=dtype).to(device)
        dw = O.randn(4, 3, seed=2, dtype=dtype).to(device)
        config = dict(CUSTOM[rule])
        for step in (1, 2):
            next_w, config = O.unpack(student.call(f'optim.{rule}', w, dw, config).value, 2, rule,
                                      '(next_w, config)')
            expect_tensor(next_w, f"{rule}: next_w for {dtype} weights on {device}, step {step}",
                          shape=(4, 3), dtype=dtype, device=device)
            w = next_w
        if device == 'cpu':
            want, _ = O.torch_trajectory(rule, O.randn(4, 3, seed=1), [O.randn(4, 3, seed=2)] * 2,
                                         CUSTOM[rule])
            expect_close(w, want[-1], f"{rule}: next_w for float32 weights after 2 steps", tol=1e-5)


def make_tests(rule, seed):
    @pytest.mark.item(rule)
    def trajectory(student):
        check_rule(student, rule, seed)

    @pytest.mark.item(rule)
    def dtype_and_device(student):
        check_devices(student, rule)

    return trajectory, dtype_and_device


# One pair of tests per rule, named test_<rule>_matches_torch / test_<rule>_dtype_and_device.
for _k, _rule in enumerate(O.DEFAULTS):
    _t, _d = make_tests(_rule, seed=1000 + 100 * _k)
    _t.__name__ = f'test_{_rule}_matches_torch'
    _d.__name__ = f'test_{_rule}_dtype_and_device'
    globals()[_t.__name__], globals()[_d.__name__] = _t, _d
del _t, _d, _k, _rule
