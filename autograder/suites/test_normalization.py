"""Hidden tests of scratchnn/normalization.py: BatchNorm (forward, running
statistics, test mode, both backward passes), SpatialBatchNorm, LayerNorm and
GroupNorm against torch's functional ops in float64, and each backward pass
against finite differences of the student's own forward pass.
"""
import pytest
import torch

from autograder.suites import oracles as O
from autograder.suites.oracles import check, expect_close, expect_tensor

F64 = torch.float64
# (N, D): few examples (biased vs unbiased variance differ by N/(N-1)), N != D.
FLAT_SHAPES = [(4, 3), (50, 7), (2, 5)]
# (N, C, H, W) with H != W.
IMAGE_SHAPES = [(2, 3, 4, 5), (3, 4, 2, 3)]


def inputs(shape, seed, features, dtype=F64, tiny=False):
    """x with shifted, scaled columns (one of variance ~1e-6 when tiny), and
    gamma/beta over `features`."""
    x = O.randn(*shape, seed=seed) * 3 + 10
    if tiny:
        x = x * 1e-3
    gamma = 1 + O.randn(features, seed=seed + 1, scale=0.3)
    beta = O.randn(features, seed=seed + 2)
    return x.to(dtype), gamma.to(dtype), beta.to(dtype)


def feature_dim_tiny(x):
    """x with its first feature/channel squeezed to a variance of ~1e-6."""
    x = x.clone()
    x[:, 0] = (x[:, 0] - x[:, 0].mean()) * 1e-3 / x[:, 0].std()
    return x


# ------------------------------------------------------------------ BatchNorm forward

def bn_forward(student, target, x, gamma, beta, **bn_param):
    out, cache, res = O.forward(student, target, x, gamma, beta, bn_param)
    name = target.split('.', 1)[1]
    expect_tensor(out, f"{name} ({bn_param.get('mode')} mode): out", shape=x.shape)
    written = res.args[3]
    check(isinstance(written, dict), f"{name}: bn_param must stay a dict")
    return out, cache, written


def check_train_forward(student, target, shapes, seed):
    name = target.split('.', 1)[1]
    for k, shape in enumerate(shapes):
        for tiny, eps in ((False, None), (True, None), (True, 1e-3)):
            x, gamma, beta = inputs(shape, seed + 10 * k, shape[1])
            if tiny:
                x = feature_dim_tiny(x)
            param = {'mode': 'train'} if eps is None else {'mode': 'train', 'eps': eps}
            out, _, _ = bn_forward(student, target, x, gamma, beta, **param)
            what = f"{name} (train mode): out for x of shape {shape}" + (
                ", one feature of variance 1e-6" if tiny else '') + (f", eps={eps}" if eps else '')
            expect_close(out, O.batchnorm_train(x, gamma, beta, eps or 1e-5), what)


def check_running_stats(student, target, shape, seed):
    """Running averages from zeros, from given values, with another momentum, over 3 batches."""
    name = target.split('.', 1)[1]
    C = shape[1]
    run_mean, run_var = torch.zeros(C, dtype=F64), torch.zeros(C, dtype=F64)
    param = {'mode': 'train'}
    for step, momentum in enumerate([None, None, 0.7]):
        x, gamma, beta = inputs(shape, seed + step, C)
        if momentum is not None:
            param['momentum'] = momentum
        _, _, param = bn_forward(student, target, x, gamma, beta, **param)
        mom = 0.9 if momentum is None else momentum
        mean, var = O.batch_stats(x)
        run_mean, run_var = mom * run_mean + (1 - mom) * mean, mom * run_var + (1 - mom) * var
        for key, want in (('running_mean', run_mean), ('running_var', run_var)):
            check(key in param, f"{name} (train mode): bn_param has no '{key}' after the call "
                                "(the running statistics must be written back)")
            expect_close(param[key], want, f"{name} (train mode): bn_param['{key}'] after "
                                           f"{step + 1} batches (momentum {mom})")


def check_test_forward(student, target, shape, seed):
    name = target.split('.', 1)[1]
    C = shape[1]
    x, gamma, beta = inputs(shape, seed, C)
    mean, var = O.randn(C, seed=seed + 5) + 10, O.randn(C, seed=seed + 6).abs() * 9 + 0.1
    out, _, param = bn_forward(student, target, x, gamma, beta, mode='test', running_mean=mean,
                               running_var=var)
    expect_close(out, O.batchnorm_test(x, gamma, beta, mean, var),
                 f"{name} (test mode): out (it must use the running statistics)")
    expect_close(param.get('running_mean'), mean, f"{name} (test mode): bn_param['running_mean'] "
                                                  "(test mode must not change it)")
    expect_close(param.get('running_var'), var, f"{name} (test mode): bn_param['running_var'] "
                                                "(test mode must not change it)")
    O.expect_raises(lambda: student.call(target, x, gamma, beta, {'mode': 'eval'}), 'ValueError',
                    f"{name} with mode='eval'")


def check_forward_devices(student, name, call, shape):
    """call(x, gamma, beta) -> out for float32 CPU, meta and CUDA inputs."""
    cases = [('cpu', torch.float32)] + [(d, F64) for d in O.extra_devices()]
    for device, dtype in cases:
        x, gamma, beta = (t.to(device) for t in inputs(shape, 3, shape[1], dtype=dtype))
        out = call(x, gamma, beta)
        expect_tensor(out, f"{name}: out for {dtype} input on {device}", shape=shape, dtype=dtype,
                      device=device)


def bn_devices(student, target, shape):
    name = target.split('.', 1)[1]

    def call(x, gamma, beta):
        out, _, param = bn_forward(student, target, x, gamma, beta, mode='train')
        for key in ('running_mean', 'running_var'):
            expect_tensor(param.get(key), f"{name}: bn_param['{key}'] for {x.dtype} input on "
                                          f"{x.device.type}", shape=(shape[1],), dtype=x.dtype,
                          device=x.device.type)
        out, _, _ = bn_forward(student, target, x, gamma, beta, **{**param, 'mode': 'test'})
        return out

    check_forward_devices(student, name, call, shape)


@pytest.mark.item('batchnorm_forward')
def test_batchnorm_forward_train_values(student):
    check_train_forward(student, 'normalization.BatchNorm.forward', FLAT_SHAPES, seed=100)


@pytest.mark.item('batchnorm_forward')
def test_batchnorm_forward_running_statistics(student):
    check_running_stats(student, 'normalization.BatchNorm.forward', (5, 4), seed=110)


@pytest.mark.item('batchnorm_forward')
def test_batchnorm_forward_test_mode(student):
    check_test_forward(student, 'normalization.BatchNorm.forward', (6, 4), seed=120)


@pytest.mark.item('batchnorm_forward')
def test_batchnorm_forward_dtype_and_device(student):
    bn_devices(student, 'normalization.BatchNorm.forward', (5, 3))


@pytest.mark.item('spatial_batchnorm_forward')
def test_spatial_batchnorm_forward_values(student):
    target = 'normalization.SpatialBatchNorm.forward'
    check_train_forward(student, target, IMAGE_SHAPES, seed=130)
    check_running_stats(student, target, (2, 3, 4, 5), seed=140)
    check_test_forward(student, target, (2, 3, 4, 5), seed=150)


@pytest.mark.item('spatial_batchnorm_forward')
def test_spatial_batchnorm_forward_dtype_and_device(student):
    bn_devices(student, 'normalization.SpatialBatchNorm.forward', (2, 3, 4, 5))


# ------------------------------------------------------------------ LayerNorm / GroupNorm forward

def ln_call(student):
    def call(x, gamma, beta, eps=None):
        param = {} if eps is None else {'eps': eps}
        return O.forward(student, 'normalization.LayerNorm.forward', x, gamma, beta, param)
    return call


def gn_call(student, G):
    def call(x, gamma, beta, eps=None):
        param = {} if eps is None else {'eps': eps}
        return O.forward(student, 'normalization.GroupNorm.forward', x, gamma, beta, G, param)
    return call


@pytest.mark.item('layernorm_forward')
def test_layernorm_forward_values(student):
    call = ln_call(student)
    for k, shape in enumerate(FLAT_SHAPES):
        for tiny, eps in ((False, None), (True, None), (True, 1e-3)):
            x, gamma, beta = inputs(shape, 200 + 10 * k, shape[1], tiny=tiny)
            out, _, _ = call(x, gamma, beta, eps)
            what = f"LayerNorm.forward: out for x of shape {shape}" + (
                ", features of variance ~1e-5" if tiny else '') + (f", eps={eps}" if eps else '')
            expect_close(out, O.layernorm(x, gamma, beta, eps or 1e-5), what)
    # The same in train and test mode (the net passes its bn_params, mode and all).
    x, gamma, beta = inputs((3, 6), 230, 6)
    for mode in ('train', 'test'):
        out, _, _ = O.forward(student, 'normalization.LayerNorm.forward', x, gamma, beta,
                              {'mode': mode})
        expect_close(out, O.layernorm(x, gamma, beta), f"LayerNorm.forward ({mode} mode): out")


@pytest.mark.item('layernorm_forward')
def test_layernorm_forward_dtype_and_device(student):
    call = ln_call(student)
    check_forward_devices(student, 'LayerNorm.forward', lambda *a: call(*a)[0], (4, 3))


GROUP_CASES = [((2, 6, 4, 5), 1), ((2, 6, 4, 5), 6), ((2, 6, 4, 5), 2), ((3, 6, 3, 2), 3),
               ((2, 4, 5, 3), 2)]


@pytest.mark.item('groupnorm_forward')
def test_groupnorm_forward_values(student):
    for k, (shape, G) in enumerate(GROUP_CASES):
        for tiny, eps in ((False, None), (True, 1e-3)):
            x, gamma, beta = inputs(shape, 300 + 10 * k, shape[1], tiny=tiny)
            out, _, _ = gn_call(student, G)(x, gamma, beta, eps)
            what = f"GroupNorm.forward: out for x of shape {shape}, G={G}" + (
                f", values of variance ~1e-5, eps={eps}" if tiny else '')
            expect_close(out, O.groupnorm(x, gamma, beta, G, eps or 1e-5), what)


@pytest.mark.item('groupnorm_forward')
def test_groupnorm_forward_dtype_and_device(student):
    call = gn_call(student, 2)
    check_forward_devices(student, 'GroupNorm.forward (G=2)', lambda *a: call(*a)[0], (2, 4, 3, 2))


# ------------------------------------------------------------------ backward passes

def layer(student, kind, G=None):
    """(forward(x, gamma, beta) -> (out, cache Ref), backward target, oracle(x, gamma, beta))."""
    if kind in ('BatchNorm', 'BatchNorm_alt', 'SpatialBatchNorm'):
        cls = 'SpatialBatchNorm' if kind == 'SpatialBatchNorm' else 'BatchNorm'
        method = 'backward_alt' if kind == 'BatchNorm_alt' else 'backward'

        def fwd(x, gamma, beta):
            out, cache, _ = O.forward(student, f'normalization.{cls}.forward', x, gamma, beta,
                                      {'mode': 'train'})
            return out, cache
        return fwd, f'normalization.{cls}.{method}', O.batchnorm_train
    if kind == 'LayerNorm':
        return (lambda *a: ln_call(student)(*a)[:2], 'normalization.LayerNorm.backward',
                O.layernorm)
    return (lambda *a: gn_call(student, G)(*a)[:2], 'normalization.GroupNorm.backward',
            lambda x, g, b: O.groupnorm(x, g, b, G))


def check_backward_values(student, kind, cases, seed):
    for k, (shape, G) in enumerate(cases):
        fwd, target, oracle = layer(student, kind, G)
        for tiny in (False, True):
            x, gamma, beta = inputs(shape, seed + 10 * k, shape[1])
            if tiny:
                x = feature_dim_tiny(x)
            dout = O.randn(*shape, seed=seed + 10 * k + 5)
            _, cache = fwd(x, gamma, beta)
            grads = O.backward(student, target, dout, cache)
            _, want = O.autograd(oracle, [x, gamma, beta], dout)
            where = f"for x of shape {shape}" + (f", G={G}" if G else '') + (
                ", one feature of variance 1e-6" if tiny else '')
            name = target.split('.', 1)[1]
            for gname, g, w in zip(('dx', 'dgamma', 'dbeta'), grads, want):
                expect_close(g, w, f"{name}: {gname} {where}", tol=1e-7)


def check_backward_numeric(student, kind, shape, G, seed):
    fwd, target, _ = layer(student, kind, G)
    x, gamma, beta = inputs(shape, seed, shape[1])
    dout = O.randn(*shape, seed=seed + 1)
    _, cache = fwd(x, gamma, beta)
    grads = O.backward(student, target, dout, cache)
    O.directional_check(lambda ins: fwd(*ins)[0], [x, gamma, beta], grads, dout,
                        ['x', 'gamma', 'beta'], target.split('.', 1)[1])


def check_backward_devices(student, kind, shape, G=None):
    fwd, target, _ = layer(student, kind, G)
    cases = [('cpu', torch.float32)] + [(d, F64) for d in O.extra_devices()]
    for device, dtype in cases:
        x, gamma, beta = (t.to(device) for t in inputs(shape, 9, shape[1], dtype=dtype))
        _, cache = fwd(x, gamma, beta)
        grads = O.backward(student, target, O.randn(*shape, seed=8, dtype=dtype).to(device), cache)
        for gname, g, t in zip(('dx', 'dgamma', 'dbeta'), grads, (x, gamma, beta)):
            expect_tensor(g, f"{target.split('.', 1)[1]}: {gname} for {dtype} input on {device}",
                          shape=t.shape, dtype=dtype, device=device)


FLAT_CASES = [(s, None) for s in FLAT_SHAPES]


@pytest.mark.item('batchnorm_backward')
def test_batchnorm_backward_matches_autograd(student):
    check_backward_values(student, 'BatchNorm', FLAT_CASES, seed=400)


@pytest.mark.item('batchnorm_backward')
def test_batchnorm_backward_numeric_gradient(student):
    check_backward_numeric(student, 'BatchNorm', (5, 3), None, seed=410)


@pytest.mark.item('batchnorm_backward')
def test_batchnorm_backward_dtype_and_device(student):
    check_backward_devices(student, 'BatchNorm', (4, 3))


@pytest.mark.item('batchnorm_backward_alt')
def test_batchnorm_backward_alt_matches_autograd(student):
    check_backward_values(student, 'BatchNorm_alt', FLAT_CASES, seed=420)


@pytest.mark.item('batchnorm_backward_alt')
def test_batchnorm_backward_alt_numeric_gradient(student):
    check_backward_numeric(student, 'BatchNorm_alt', (6, 4), None, seed=430)


@pytest.mark.item('batchnorm_backward_alt')
def test_batchnorm_backward_alt_dtype_and_device(student):
    check_backward_devices(student, 'BatchNorm_alt', (4, 3))


@pytest.mark.item('spatial_batchnorm_backward')
def test_spatial_batchnorm_backward_matches_autograd(student):
    check_backward_values(student, 'SpatialBatchNorm', [(s, None) for s in IMAGE_SHAPES], seed=440)


@pytest.mark.item('spatial_batchnorm_backward')
def test_spatial_batchnorm_backward_numeric_gradient_dtype_and_device(student):
    check_backward_numeric(student, 'SpatialBatchNorm', (2, 3, 4, 5), None, seed=450)
    check_backward_devices(student, 'SpatialBatchNorm', (2, 3, 2, 3))


@pytest.mark.item('layernorm_backward')
def test_layernorm_backward_matches_autograd(student):
    check_backward_values(student, 'LayerNorm', FLAT_CASES, seed=460)


@pytest.mark.item('layernorm_backward')
def test_layernorm_backward_numeric_gradient(student):
    check_backward_numeric(student, 'LayerNorm', (4, 6), None, seed=470)


@pytest.mark.item('layernorm_backward')
def test_layernorm_backward_dtype_and_device(student):
    check_backward_devices(student, 'LayerNorm', (4, 3))


@pytest.mark.item('groupnorm_backward')
def test_groupnorm_backward_matches_autograd(student):
    check_backward_values(student, 'GroupNorm', [(s, G) for s, G in GROUP_CASES], seed=480)


@pytest.mark.item('groupnorm_backward')
def test_groupnorm_backward_numeric_gradient(student):
    for k, G in enumerate((1, 2, 6)):
        check_backward_numeric(student, 'GroupNorm', (2, 6, 3, 4), G, seed=490 + k)


@pytest.mark.item('groupnorm_backward')
def test_groupnorm_backward_dtype_and_device(student):
    check_backward_devices(student, 'GroupNorm', (2, 4, 3, 2), G=2)
