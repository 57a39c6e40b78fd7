"""Hidden tests of scratchnn/init.py: shapes, dtypes, devices and the
distributions of the initializers, by sampling statistics with tolerances from
the sampling noise, so that any correct way of drawing the numbers passes.
"""
import math

import pytest
import torch

from autograder.suites import oracles as O
from autograder.suites.oracles import expect_tensor

# (Din, Dout, K): non-square linear weights and convolution kernels.
CASES = [(300, 200, None), (40, 64, 3), (16, 24, 5)]


def shape_of(Din, Dout, K):
    return (Din, Dout) if K is None else (Dout, Din, K, K)


def fans(Din, Dout, K):
    r = 1 if K is None else K * K
    return Din * r, Dout * r


def draw(student, name, Din, Dout, K, **kwargs):
    w = student.call(f'init.{name}', Din, Dout, K, **kwargs).value
    what = f"{name}({Din}, {Dout}, K={K}{''.join(f', {k}={v!r}' for k, v in kwargs.items())})"
    dtype = kwargs.get('dtype', torch.float32)
    expect_tensor(w, what, shape=shape_of(Din, Dout, K), dtype=dtype)
    return w, what


def check_devices(student, name):
    """dtype is kept, and the tensor is created on the requested device."""
    for device in ['cpu'] + O.extra_devices():
        for dtype in (torch.float32, torch.float64):
            w = student.call(f'init.{name}', 6, 4, 3, device=device, dtype=dtype).value
            expect_tensor(w, f"{name}(6, 4, K=3, device={device!r}, dtype={dtype})",
                          shape=(4, 6, 3, 3), dtype=dtype, device=device)


def xavier_bound(Din, Dout, K, gain=1.0):
    fan_in, fan_out = fans(Din, Dout, K)
    return gain * math.sqrt(6 / (fan_in + fan_out))


def kaiming_std(Din, Dout, K, relu=True):
    return math.sqrt((2 if relu else 1) / fans(Din, Dout, K)[0])


@pytest.mark.item('xavier_uniform')
def test_xavier_uniform_distribution(student):
    for Din, Dout, K in CASES:
        w, what = draw(student, 'xavier_uniform', Din, Dout, K)
        O.expect_uniform(w, xavier_bound(Din, Dout, K), what)
    w, what = draw(student, 'xavier_uniform', 100, 300, None, gain=2.5, dtype=torch.float64)
    O.expect_uniform(w, xavier_bound(100, 300, None, 2.5), what)


@pytest.mark.item('xavier_uniform')
def test_xavier_uniform_dtype_and_device(student):
    check_devices(student, 'xavier_uniform')


@pytest.mark.item('xavier_normal')
def test_xavier_normal_distribution(student):
    for Din, Dout, K in CASES:
        w, what = draw(student, 'xavier_normal', Din, Dout, K)
        O.expect_normal(w, xavier_bound(Din, Dout, K) / math.sqrt(3), what)
    w, what = draw(student, 'xavier_normal', 100, 300, None, gain=0.5, dtype=torch.float64)
    O.expect_normal(w, xavier_bound(100, 300, None, 0.5) / math.sqrt(3), what)


@pytest.mark.item('xavier_normal')
def test_xavier_normal_dtype_and_device(student):
    check_devices(student, 'xavier_normal')


@pytest.mark.item('kaiming_uniform')
def test_kaiming_uniform_distribution(student):
    for relu in (True, False):
        for Din, Dout, K in CASES:
            w, what = draw(student, 'kaiming_uniform', Din, Dout, K, relu=relu)
            O.expect_uniform(w, math.sqrt(3) * kaiming_std(Din, Dout, K, relu), what)


@pytest.mark.item('kaiming_uniform')
def test_kaiming_uniform_dtype_and_device(student):
    check_devices(student, 'kaiming_uniform')


@pytest.mark.item('kaiming_normal')
def test_kaiming_normal_distribution(student):
    for relu in (True, False):
        for Din, Dout, K in CASES:
            w, what = draw(student, 'kaiming_normal', Din, Dout, K, relu=relu)
            O.expect_normal(w, kaiming_std(Din, Dout, K, relu), what)
    # kaiming_initializer is the same initializer under the EECS 498 name.
    w, what = draw(student, 'kaiming_initializer', 300, 200, None)
    O.expect_normal(w, kaiming_std(300, 200, None), what)


@pytest.mark.item('kaiming_normal')
def test_kaiming_normal_dtype_and_device(student):
    check_devices(student, 'kaiming_normal')
