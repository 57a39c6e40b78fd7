"""Outputs keep the input's device and dtype: every function on `meta` tensors
(which catch a tensor created on the wrong device without a GPU), on the CPU,
and on CUDA when present; in float32 and float64.

On real devices the values are also compared with a float64 CPU run, so a
float32 or CUDA path that silently computes something else fails too.
"""
import pytest
import torch

from autograder.suites import oracles
from autograder.suites.checks import is_close
from scratchnn import (BatchNorm, Conv, Dropout, FullyConnectedNet, GroupNorm, LayerNorm, Linear,
                       Linear_ReLU, MaxPool, ReLU, SpatialBatchNorm, init, optim, softmax_loss)
from scratchnn.data import load_digits
from scratchnn.device import get_device, to_device

DEVICES = ['meta', *oracles.DEVICES]
DTYPES = [torch.float32, torch.float64]


def make(*shape, seed, device, dtype):
    """Deterministic input: drawn on the CPU in float64, then moved, so every
    device and dtype sees the same numbers."""
    t = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return t.to(device=device, dtype=dtype)


def labels(N, C, device):
    return torch.randint(C, (N,), generator=torch.Generator().manual_seed(0)).to(device)


CASES = {}   # name -> case(device, dtype): the tensors whose device and dtype are checked


def case(fn):
    """Register a case under its name without 'case_'."""
    CASES[fn.__name__.removeprefix('case_')] = fn
    return fn


@case
def case_linear(device, dtype):
    x, w, b = (make(4, 3, 2, seed=1, device=device, dtype=dtype),
               make(6, 5, seed=2, device=device, dtype=dtype), make(5, seed=3, device=device, dtype=dtype))
    out, cache = Linear.forward(x, w, b)
    return [out, *Linear.backward(out, cache)]


@case
def case_relu(device, dtype):
    x = make(3, 4, 5, seed=1, device=device, dtype=dtype)
    out, cache = ReLU.forward(x)
    return [out, ReLU.backward(x, cache)]


@case
def case_linear_relu(device, dtype):
    x, w, b = (make(4, 6, seed=1, device=device, dtype=dtype),
               make(6, 5, seed=2, device=device, dtype=dtype), make(5, seed=3, device=device, dtype=dtype))
    out, cache = Linear_ReLU.forward(x, w, b)
    return [out, *Linear_ReLU.backward(out, cache)]


@case
def case_softmax_loss(device, dtype):
    return list(softmax_loss(make(6, 4, seed=1, device=device, dtype=dtype), labels(6, 4, device)))


@case
def case_batchnorm(device, dtype):
    x = make(8, 5, seed=1, device=device, dtype=dtype)
    gamma, beta = make(5, seed=2, device=device, dtype=dtype), make(5, seed=3, device=device, dtype=dtype)
    bn_param = {'mode': 'train'}
    out, cache = BatchNorm.forward(x, gamma, beta, bn_param)
    outs = [out, *BatchNorm.backward(out, cache), *BatchNorm.backward_alt(out, cache)]
    outs += [bn_param['running_mean'], bn_param['running_var']]
    bn_param['mode'] = 'test'
    return outs + [BatchNorm.forward(x, gamma, beta, bn_param)[0]]


@case
def case_spatial_batchnorm(device, dtype):
    x = make(2, 3, 4, 4, seed=1, device=device, dtype=dtype)
    gamma, beta = make(3, seed=2, device=device, dtype=dtype), make(3, seed=3, device=device, dtype=dtype)
    bn_param = {'mode': 'train'}
    out, cache = SpatialBatchNorm.forward(x, gamma, beta, bn_param)
    outs = [out, *SpatialBatchNorm.backward(out, cache), bn_param['running_mean'], bn_param['running_var']]
    bn_param['mode'] = 'test'
    return outs + [SpatialBatchNorm.forward(x, gamma, beta, bn_param)[0]]


@case
def case_layernorm(device, dtype):
    x = make(4, 6, seed=1, device=device, dtype=dtype)
    gamma, beta = make(6, seed=2, device=device, dtype=dtype), make(6, seed=3, device=device, dtype=dtype)
    out, cache = LayerNorm.forward(x, gamma, beta, {})
    return [out, *LayerNorm.backward(out, cache)]


@case
def case_groupnorm(device, dtype):
    x = make(2, 6, 3, 3, seed=1, device=device, dtype=dtype)
    gamma, beta = make(6, seed=2, device=device, dtype=dtype), make(6, seed=3, device=device, dtype=dtype)
    out, cache = GroupNorm.forward(x, gamma, beta, 2, {})
    return [out, *GroupNorm.backward(out, cache)]


@case
def case_dropout(device, dtype):
    x = make(5, 6, seed=1, device=device, dtype=dtype)
    out, cache = Dropout.forward(x, {'p': 0.5, 'mode': 'train', 'seed': 0})
    test_out, test_cache = Dropout.forward(x, {'p': 0.5, 'mode': 'test'})
    return [out, Dropout.backward(x, cache), test_out, Dropout.backward(x, test_cache)]


@case
def case_init(device, dtype):
    fns = [init.xavier_uniform, init.xavier_normal, init.kaiming_uniform, init.kaiming_normal,
           init.kaiming_initializer]
    return [fn(3, 4, K, device=device, dtype=dtype) for fn in fns for K in (None, 3)]


@case
def case_optim(device, dtype):
    outs = []
    for name in ('sgd', 'sgd_momentum', 'nesterov', 'adagrad', 'rmsprop', 'adadelta', 'adam', 'adamw'):
        w, config = make(3, 4, seed=1, device=device, dtype=dtype), {'weight_decay': 0.1}
        for step in range(2):
            w, config = getattr(optim, name)(w, make(3, 4, seed=2 + step, device=device, dtype=dtype), config)
        outs += [w] + [v for v in config.values() if isinstance(v, torch.Tensor)]
    return outs


def fc_net_outputs(device, dtype, dropout):
    """Loss, gradients, scores and running statistics of nets whose params are
    the same numbers on every device and dtype."""
    outs = []
    for normalization in (None, 'batchnorm', 'layernorm'):
        net = FullyConnectedNet([5, 4], input_dim=6, num_classes=3, normalization=normalization,
                                dropout=dropout, reg=0.1, dtype=dtype, device=device)
        net.params = {k: make(*v.shape, seed=i, device=device, dtype=dtype)
                      for i, (k, v) in enumerate(net.params.items())}
        X = make(7, 6, seed=100, device=device, dtype=dtype)
        loss, grads = net.loss(X, labels(7, 3, device))
        outs += [loss, *grads.values(), net.loss(X)]
        outs += [t for bn_param in net.bn_params for t in bn_param.values() if isinstance(t, torch.Tensor)]
    return outs


@case
def case_fc_net(device, dtype):
    return fc_net_outputs(device, dtype, dropout=0.0)


@case
def case_fc_net_dropout(device, dtype):
    return fc_net_outputs(device, dtype, dropout=0.3)


@case
def case_fc_net_init(device, dtype):
    outs = []
    for normalization in (None, 'batchnorm'):
        for scale in (0.1, 'xavier', 'kaiming'):
            net = FullyConnectedNet([5], input_dim=6, normalization=normalization, weight_scale=scale,
                                    seed=0, dtype=dtype, device=device)
            outs += list(net.params.values())
    return outs


@case
def case_conv(device, dtype):
    x, w, b = (make(2, 3, 6, 6, seed=1, device=device, dtype=dtype),
               make(4, 3, 3, 3, seed=2, device=device, dtype=dtype), make(4, seed=3, device=device, dtype=dtype))
    out, cache = Conv.forward(x, w, b, {'stride': 1, 'pad': 1})
    pooled, pool_cache = MaxPool.forward(out, {'pool_height': 2, 'pool_width': 2, 'stride': 2})
    return [out, *Conv.backward(out, cache), pooled, MaxPool.backward(pooled, pool_cache)]


# Random draws differ between devices: only their device and dtype are compared.
RANDOM = {'dropout', 'init', 'fc_net_dropout', 'fc_net_init'}


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('case', list(CASES))
def test_outputs_keep_device_and_dtype(case, device, dtype):
    outs = CASES[case](device, dtype)
    assert outs
    for i, t in enumerate(outs):
        assert isinstance(t, torch.Tensor), f"output {i}"
        assert t.device.type == device, f"output {i} on {t.device}"
        assert t.dtype == dtype, f"output {i} is {t.dtype}"
    if device != 'meta' and case not in RANDOM:
        reference = CASES[case]('cpu', torch.float64)
        tol = 1e-4 if dtype == torch.float32 else 1e-10
        for i, (t, r) in enumerate(zip(outs, reference)):
            assert is_close(t, r, tol=tol, atol=tol), f"output {i}"


@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('device', oracles.DEVICES)
def test_load_digits_device_and_dtype(device, dtype):
    data = load_digits(device=device, dtype=dtype, num_val=100, num_test=100)
    for name, t in data.items():
        assert t.device.type == device, name
        assert t.dtype == (torch.int64 if name.startswith('y') else dtype), name


@pytest.mark.parametrize('cuda_present', [True, False])
def test_get_device(monkeypatch, cuda_present):
    # Both branches run everywhere: the check only asks torch.cuda.is_available().
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda_present)
    monkeypatch.setattr(torch.cuda, 'current_device', lambda: 0)
    auto = torch.device('cuda:0') if cuda_present else torch.device('cpu')
    assert get_device() == auto      # with the index its tensors report
    assert get_device('auto') == auto
    assert get_device('cpu') == torch.device('cpu')
    assert get_device(torch.device('meta')) == torch.device('meta')
    if cuda_present:
        assert get_device('cuda:0') == get_device('cuda') == torch.device('cuda:0')
    else:
        for name in ('cuda', 'cuda:1', torch.device('cuda')):
            with pytest.raises(RuntimeError, match='was requested but CUDA is not available'):
                get_device(name)


def test_to_device_walks_containers():
    obj = {'a': torch.zeros(2), 'b': [torch.ones(1), (torch.zeros(3), 'text')], 'c': 5}
    moved = to_device(obj, 'meta')
    assert moved['a'].device.type == 'meta' and moved['b'][0].device.type == 'meta'
    assert moved['b'][1][0].device.type == 'meta' and moved['b'][1][1] == 'text' and moved['c'] == 5
    assert isinstance(moved['b'][1], tuple)
    assert obj['a'].device.type == 'cpu'  # a copy, the original stays
