"""Hidden tests of scratchnn/normalization.py: BatchNorm (both backward
passes), SpatialBatchNorm, LayerNorm and GroupNorm against torch's functional
ops in float64, each backward pass also against the student's own forward,
and SpatialBatchNorm also against the student's own BatchNorm (passes.py).
"""
import pytest
import torch

from autograder.suites import oracles as O
from autograder.suites import passes as P
from autograder.suites.checks import (NOTES, VALUE_TOL, Reference, backward, check, expect_match,
                                      expect_raises, expect_tensor, expect_unchanged, forward)
from autograder.suites.passes import Case, Layer
from autograder.suites.passes import (  # noqa: F401 (the pass tests, parametrized by PASSES)
    test_backward_dtype_and_device, test_backward_gradients, test_backward_leaves_dout_unchanged,
    test_forward_dtype_and_device, test_forward_leaves_inputs_unchanged, test_forward_values)

F64 = torch.float64


# ------------------------------------------------------------------ inputs

def norm_case(shape, seed, G=None, variant='plain', eps=None, momentum=None, mode=None):
    """x with shifted, scaled features/channels and gamma, beta over dim 1.

    variant: 'plain'; 'tiny' (feature/channel 0 squeezed to a variance of
    1e-6, where eps matters); 'small' (every variance about 1e-6: eps matters
    whatever is normalized together); 'large-offset' (x about 1e6 + 3 N(0, 1):
    a variance computed as E[x^2] - E[x]^2 loses 5 digits there, a two-pass
    one none); 'non-contiguous-x' (x as a permute leaves it); 'non-contiguous-dout'.
    """
    C = shape[1]

    def tensors():
        x = O.randn(*shape, seed=seed) * 3 + 10
        if variant == 'tiny':
            x[:, 0] = (x[:, 0] - x[:, 0].mean()) * 1e-3 / x[:, 0].std()
        if variant == 'small':
            x = (x - 10) * 3e-4
        if variant == 'large-offset':
            x = x + (1e6 - 10)
        if variant == 'non-contiguous-x':
            x = O.non_contiguous(x)
        return {'x': x, 'gamma': 1 + O.randn(C, seed=seed + 1, scale=0.3),
                'beta': O.randn(C, seed=seed + 2)}

    options = {k: v for k, v in (('eps', eps), ('momentum', momentum), ('G', G), ('mode', mode))
               if v is not None}
    options['non_contiguous_dout'] = variant == 'non-contiguous-dout'
    what = (f"x of shape {shape}" + (f", G={G}" if G else '')
            + {'plain': '', 'tiny': ", one channel of variance 1e-6",
               'small': ", variances about 1e-6", 'large-offset': ", values about 1e6",
               'non-contiguous-x': " (x non-contiguous)",
               'non-contiguous-dout': " (dout non-contiguous)"}[variant]
            + (f", eps={eps}" if eps is not None else '')
            + (f", momentum={momentum}" if momentum is not None else '')
            + (f", mode={mode!r}" if mode is not None else ''))
    case_id = '-'.join(str(p) for p in (
        'x'.join(map(str, shape)), f'G{G}' if G else '', variant if variant != 'plain' else '',
        f'eps{eps}' if eps is not None else '', f'momentum{momentum}' if momentum is not None else '',
        mode or '') if p)
    return Case(case_id, what, tensors, options)


def param(options, **fixed):
    """A fresh bn_param / ln_param / gn_param from a case's options."""
    return {**fixed, **{k: options[k] for k in ('eps', 'momentum', 'mode') if k in options}}


def spatial_by_parts(student, tensors, options, dout):
    """SpatialBatchNorm as the contract builds it: the student's own BatchNorm
    over the N*H*W rows of each channel, with either of its backward passes."""
    x, gamma, beta = tensors.values()
    N, C, H, W = x.shape

    def rows(t):
        return t.permute(0, 2, 3, 1).reshape(-1, C)

    def images(t):
        return t.reshape(N, H, W, C).permute(0, 3, 1, 2)

    def composed(method):
        def parts():
            out, cache, res = forward(student, 'normalization.BatchNorm.forward', rows(x), gamma,
                                      beta, param(options, mode='train'))
            inputs = {'x': images(res.args[0]), 'gamma': res.args[1], 'beta': res.args[2]}
            if dout is None:
                return P.Composed(images(out), inputs=inputs)
            grads, res = backward(student, f'normalization.BatchNorm.{method}', rows(dout), cache,
                                  ('dx', 'dgamma', 'dbeta'))
            return P.Composed(images(out), {**grads, 'dx': images(grads['dx'])}, inputs,
                              images(res.args[0]))
        return parts
    return [(f"your own BatchNorm over the rows of each channel (with BatchNorm.{m})", composed(m))
            for m in ('backward_alt', 'backward')]


def _bn(name, backward_item, method='backward', by_parts=None):
    return Layer(name, 'normalization', 'batchnorm_forward' if name == 'BatchNorm' else
                 'spatial_batchnorm_forward', backward_item, ('x', 'gamma', 'beta'),
                 O.batchnorm_train, extra=lambda o: (param(o, mode='train'),),
                 backward_method=method, by_parts=by_parts)


BATCHNORM = _bn('BatchNorm', 'batchnorm_backward')
BATCHNORM_ALT = _bn('BatchNorm', 'batchnorm_backward_alt', 'backward_alt')
SPATIAL = _bn('SpatialBatchNorm', 'spatial_batchnorm_backward', by_parts=spatial_by_parts)
LAYERNORM = Layer('LayerNorm', 'normalization', 'layernorm_forward', 'layernorm_backward',
                  ('x', 'gamma', 'beta'), O.layernorm, extra=lambda o: (param(o),))
GROUPNORM = Layer('GroupNorm', 'normalization', 'groupnorm_forward', 'groupnorm_backward',
                  ('x', 'gamma', 'beta'), O.groupnorm, extra=lambda o: (o['G'], param(o)))


def flat_cases(seed):
    return [norm_case((4, 3), seed), norm_case((50, 7), seed + 10),
            norm_case((2, 5), seed + 20), norm_case((4, 3), seed + 30, variant='tiny'),
            norm_case((6, 4), seed + 40, variant='tiny', eps=1e-3),
            norm_case((5, 3), seed + 50, variant='non-contiguous-x'),
            norm_case((5, 3), seed + 60, variant='non-contiguous-dout')]


def image_cases(seed):
    return [norm_case((2, 3, 4, 5), seed), norm_case((3, 4, 2, 3), seed + 10),
            norm_case((2, 3, 2, 3), seed + 20, variant='tiny', eps=1e-3),
            norm_case((2, 3, 3, 2), seed + 30, variant='non-contiguous-x'),
            norm_case((2, 3, 3, 2), seed + 40, variant='non-contiguous-dout')]


GROUP_CASES = [((2, 6, 4, 5), 1), ((2, 6, 4, 5), 6), ((2, 6, 4, 5), 2), ((3, 6, 3, 2), 3)]


def group_cases(seed):
    return ([norm_case(shape, seed + 10 * k, G=G) for k, (shape, G) in enumerate(GROUP_CASES)]
            + [norm_case((2, 4, 3, 2), seed + 50, G=2, variant='tiny', eps=1e-3),
               norm_case((2, 4, 3, 2), seed + 60, G=2, variant='non-contiguous-x'),
               norm_case((2, 4, 3, 2), seed + 70, G=2, variant='non-contiguous-dout')])


# LayerNorm also sees the keys the net passes (its bn_params, mode and all).
LN_CASES = flat_cases(300) + [norm_case((3, 6), 380, mode='train'),
                              norm_case((3, 6), 390, mode='test', eps=1e-3)]
CASES = {BATCHNORM: flat_cases(100), BATCHNORM_ALT: flat_cases(200), SPATIAL: image_cases(400),
         LAYERNORM: LN_CASES, GROUPNORM: group_cases(500)}


def forward_only_cases(shape, seed, G=None):
    """Cases of what a forward pass alone gets wrong: eps=0 (a falsy value the
    contract gives a meaning: no eps at all), and values about 1e6 (a variance
    by cancellation). Not for the backward passes: the numeric gradient of a
    forward on values about 1e6 steps too far to be exact."""
    return [norm_case(shape, seed, G=G, variant='small', eps=0.0),
            norm_case(shape, seed + 1, G=G, variant='large-offset')]


FORWARD_ONLY = {BATCHNORM: forward_only_cases((6, 4), 170), SPATIAL: forward_only_cases((2, 3, 3, 2), 470),
                LAYERNORM: forward_only_cases((4, 6), 370),
                GROUPNORM: forward_only_cases((2, 4, 3, 2), 570, G=2)}
FORWARD = [(layer, case) for layer, cases in CASES.items() if layer is not BATCHNORM_ALT
           for case in cases + FORWARD_ONLY[layer]]
BACKWARD = [(layer, case) for layer, cases in CASES.items() for case in cases]
PASSES = P.Passes(
    forward=FORWARD, backward=BACKWARD,
    # item: points of (values, dtype and device, inputs unchanged)
    forward_points={'batchnorm_forward': (2.0, 0.5, 0.125),
                    'spatial_batchnorm_forward': (0.8, 0.3, 0.1),
                    'layernorm_forward': (2.3, 0.4, 0.3), 'groupnorm_forward': (2.3, 0.4, 0.3)},
    # item: points of (gradients, dtype and device, dout unchanged)
    backward_points={'batchnorm_backward': (4, 0.6, 0.4), 'batchnorm_backward_alt': (2.4, 0.35, 0.25),
                     'spatial_batchnorm_backward': (1.5, 0.3, 0.2),
                     'layernorm_backward': (2.4, 0.35, 0.25), 'groupnorm_backward': (2.4, 0.35, 0.25)})
ITEMS = PASSES.items()


def pytest_generate_tests(metafunc):
    PASSES.parametrize(metafunc)


# ------------------------------------------------------------------ batchnorm: running statistics, test mode

def bn_call(student, layer, x, gamma, beta, bn_param):
    out, _, res = forward(student, layer.forward_target, x, gamma, beta, bn_param)
    expect_tensor(out, f"{layer.name}.forward ({bn_param.get('mode')} mode): out", shape=x.shape)
    written = res.args[3]
    check(isinstance(written, dict), f"{layer.name}.forward: bn_param must stay a dict")
    return out, written, res


def bn_rows_by_parts(student, x, gamma, beta, bn_param):
    """SpatialBatchNorm's bn_param after the student's own BatchNorm on its rows."""
    C = x.shape[1]
    _, written, _ = bn_call(student, BATCHNORM, x.permute(0, 2, 3, 1).reshape(-1, C), gamma, beta,
                            bn_param)
    return written


def bn_layers(batchnorm_points, spatial_points):
    """BatchNorm and SpatialBatchNorm as params of a test, marked with their forward items."""
    return [pytest.param(BATCHNORM, (5, 4), id='BatchNorm',
                         marks=pytest.mark.item('batchnorm_forward', points=batchnorm_points)),
            pytest.param(SPATIAL, (2, 3, 4, 5), id='SpatialBatchNorm',
                         marks=pytest.mark.item('spatial_batchnorm_forward', points=spatial_points))]


@pytest.mark.parametrize('layer, shape', bn_layers(1.25, 0.4))
@pytest.mark.parametrize('start', ['from-zeros', 'from-given-values'])
def test_running_statistics(student, layer, shape, start):
    """Running averages over 4 batches, with the default momentum, then 0.7,
    then 0.0, written back into bn_param."""
    C = shape[1]
    if start == 'from-zeros':
        run_mean, run_var, param_ = torch.zeros(C, dtype=F64), torch.zeros(C, dtype=F64), {}
    else:
        run_mean, run_var = O.randn(C, seed=115) + 5, O.randn(C, seed=116).abs() + 1
        param_ = {'running_mean': run_mean.clone(), 'running_var': run_var.clone()}
    param_['mode'] = 'train'
    for step, momentum in enumerate([None, None, 0.7, 0.0]):   # 0.0: the batch's statistics
        x = O.randn(*shape, seed=110 + step) * 3 + 10
        gamma, beta = 1 + O.randn(C, seed=120, scale=0.3), O.randn(C, seed=121)
        if momentum is not None:
            param_['momentum'] = momentum
        given = dict(param_)
        _, param_, _ = bn_call(student, layer, x, gamma, beta, dict(param_))
        mom = 0.9 if momentum is None else momentum
        mean, var = O.batch_stats(x)
        run_mean, run_var = O.running_update(run_mean, mean, mom), O.running_update(run_var, var, mom)
        for key, want in (('running_mean', run_mean), ('running_var', run_var)):
            check(key in param_, f"{layer.name}.forward (train mode): bn_param has no '{key}' after "
                                 "the call (the running statistics must be written back)")
            what = f"{layer.name}.forward (train mode): bn_param['{key}'] after {step + 1} batches " \
                   f"(momentum {mom}, {start.replace('-', ' ')})"
            references = [Reference('the contract', lambda want=want: {key: want}, VALUE_TOL)]
            if layer is SPATIAL:
                references.append(Reference(
                    'your own BatchNorm over the rows of each channel',
                    lambda given=given, x=x, gamma=gamma, beta=beta, key=key: {
                        key: bn_rows_by_parts(student, x, gamma, beta, dict(given))[key]},
                    VALUE_TOL))
            expect_match(what, {key: param_[key]}, references)
        run_mean, run_var = param_['running_mean'].to(F64), param_['running_var'].to(F64)


TEST_MODE_CASES = {'default-eps': None, 'eps-1e-3': 1e-3}


@pytest.mark.parametrize('layer, shape', bn_layers(0.75, 0.3))
@pytest.mark.parametrize('eps', TEST_MODE_CASES.values(), ids=TEST_MODE_CASES)
def test_test_mode(student, layer, shape, eps):
    """Test mode normalizes with the running statistics (and eps) and leaves them."""
    C = shape[1]
    x = O.randn(*shape, seed=130) * 3 + 10
    gamma, beta = 1 + O.randn(C, seed=131, scale=0.3), O.randn(C, seed=132)
    # Running variances down to 1e-3, where eps = 1e-3 matters.
    mean, var = O.randn(C, seed=133) + 10, O.randn(C, seed=134).abs() * 9 + 1e-3
    bn_param = {'mode': 'test', 'running_mean': mean, 'running_var': var}
    if eps is not None:
        bn_param['eps'] = eps
    out, written, _ = bn_call(student, layer, x, gamma, beta, dict(bn_param))
    references = [Reference('the running statistics', lambda: {'out': O.batchnorm_test(
        x, gamma, beta, mean, var, 1e-5 if eps is None else eps)}, VALUE_TOL)]
    if layer is SPATIAL:
        def by_parts():
            rows = x.permute(0, 2, 3, 1).reshape(-1, C)
            out_rows, _, _ = bn_call(student, BATCHNORM, rows, gamma, beta, dict(bn_param))
            return {'out': out_rows.reshape(shape[0], shape[2], shape[3], C).permute(0, 3, 1, 2)}
        references.append(Reference('your own BatchNorm over the rows of each channel', by_parts,
                                    VALUE_TOL))
    expect_match(f"{layer.name}.forward (test mode" + (f", eps={eps}" if eps is not None else '')
                 + ")",
                 {'out': out}, references)


@pytest.mark.parametrize('layer, shape', bn_layers(0.125, 0.1))
def test_test_mode_leaves_running_statistics(student, layer, shape):
    """Test mode leaves x, gamma, beta and the running statistics unchanged (side condition)."""
    C = shape[1]
    x = O.non_contiguous(O.randn(*shape, seed=140))
    gamma, beta = 1 + O.randn(C, seed=141, scale=0.3), O.randn(C, seed=142)
    mean, var = O.randn(C, seed=143), O.randn(C, seed=144).abs() + 0.5
    out, written, res = bn_call(student, layer, x, gamma, beta,
                                {'mode': 'test', 'running_mean': mean, 'running_var': var})
    references = [Reference('the running statistics', lambda: {
        'out': O.batchnorm_test(x, gamma, beta, mean, var)}, VALUE_TOL)]
    if layer is SPATIAL:
        references.append(Reference('your own BatchNorm over the rows of each channel', lambda: {
            'out': bn_call(student, BATCHNORM, x.permute(0, 2, 3, 1).reshape(-1, C), gamma, beta,
                           {'mode': 'test', 'running_mean': mean, 'running_var': var}
                           )[0].reshape(shape[0], shape[2], shape[3], C).permute(0, 3, 1, 2)},
            VALUE_TOL))
    expect_match(f"{layer.name}.forward (test mode)", {'out': out}, references)
    before = {'x': x, 'gamma': gamma, 'beta': beta, "bn_param['running_mean']": mean,
              "bn_param['running_var']": var}
    after = state_after_test_mode(res.args, written)
    if P.unchanged(after, before):
        return
    if layer is SPATIAL and P.same_tensors(after, spatial_test_mode_by_parts(student, x, gamma, beta,
                                                                             mean, var)):
        NOTES.append("SpatialBatchNorm.forward (test mode) changes its inputs as your own "
                     "BatchNorm does: charged to batchnorm_forward, not here")
        return
    for name in before:
        expect_unchanged(after[name], before[name], f"{layer.name}.forward (test mode): {name}")


def state_after_test_mode(args, written):
    """{name: tensor} of a test-mode call's inputs and running statistics after it."""
    x, gamma, beta = args[:3]
    return {'x': x, 'gamma': gamma, 'beta': beta,
            "bn_param['running_mean']": written.get('running_mean'),
            "bn_param['running_var']": written.get('running_var')}


def spatial_test_mode_by_parts(student, x, gamma, beta, mean, var):
    """state_after_test_mode of the student's own BatchNorm over the rows of each channel."""
    N, C, H, W = x.shape
    _, written, res = bn_call(student, BATCHNORM, x.permute(0, 2, 3, 1).reshape(-1, C), gamma, beta,
                              {'mode': 'test', 'running_mean': mean, 'running_var': var})
    rows, *rest = res.args[:3]
    return state_after_test_mode((rows.reshape(N, H, W, C).permute(0, 3, 1, 2), *rest), written)


@pytest.mark.item('batchnorm_forward', points=0.25)
def test_batchnorm_unknown_mode_raises(student):
    """mode='eval' raises ValueError (the check the release gives, kept in a
    forward pass that works)."""
    x, gamma, beta = norm_case((4, 3), 150).tensors().values()
    student.call('normalization.BatchNorm.forward', x, gamma, beta, {'mode': 'train'})
    expect_raises(lambda: student.call('normalization.BatchNorm.forward', x, gamma, beta,
                                       {'mode': 'eval'}), 'ValueError',
                  "BatchNorm.forward with mode='eval'")
