"""Hidden tests of scratchnn/init.py: shapes, dtypes, devices and the
distributions of the initializers, by sampling statistics with tolerances from
the sampling noise, so that any correct way of drawing the numbers passes.
Every branch: K None and set, relu both ways, a gain, float32 and float64,
the CPU, meta and CUDA when present.
"""
import math

import pytest
import torch

from autograder.rubric import Graded
from autograder.suites import oracles as O
from autograder.suites.checks import expect_normal, expect_tensor, expect_uniform

# (Din, Dout, K): non-square linear weights and convolution kernels.
SHAPES = [(300, 200, None), (40, 64, 3), (16, 24, 5)]


def draw(student, name, Din, Dout, K, **kwargs):
    w = student.call(f'init.{name}', Din, Dout, K, **kwargs).value
    what = f"{name}({Din}, {Dout}, K={K}{''.join(f', {k}={v!r}' for k, v in kwargs.items())})"
    expect_tensor(w, what, shape=O.init_shape(Din, Dout, K), dtype=kwargs.get('dtype', torch.float32))
    return w, what


# name -> [(kwargs, expected distribution: ('uniform', bound) or ('normal', std))] per shape
def expectations(name, Din, Dout, K):
    if name.startswith('xavier'):
        cases = [{}, {'gain': 2.5}]
        std = lambda kw: O.xavier_std(Din, Dout, K, kw.get('gain', 1.0))  # noqa: E731
    else:
        cases = [{'relu': True}, {'relu': False}]
        std = lambda kw: O.kaiming_std(Din, Dout, K, kw['relu'])  # noqa: E731
    uniform = name.endswith('uniform')
    return [(kw, ('uniform', math.sqrt(3) * std(kw)) if uniform else ('normal', std(kw)))
            for kw in cases]


INITIALIZERS = ['xavier_uniform', 'xavier_normal', 'kaiming_uniform', 'kaiming_normal']
ITEMS = {name: Graded((f'init.{name}',)) for name in INITIALIZERS}
# Each initializer is its own item: points of its distribution test (kaiming_normal
# also has its alias test).
DISTRIBUTION_POINTS = {'xavier_uniform': 1.6, 'xavier_normal': 1.6, 'kaiming_uniform': 1.6,
                       'kaiming_normal': 1.3}


def params(names, points):
    return [pytest.param(n, shape, id=f"{n}-{'x'.join(str(s) for s in shape if s)}",
                         marks=pytest.mark.item(n, points=points[n])) for n in names for shape in SHAPES]


@pytest.mark.parametrize('name, shape', params(INITIALIZERS, DISTRIBUTION_POINTS))
def test_distribution(student, name, shape):
    """The distribution of the contract, for every option of the initializer."""
    Din, Dout, K = shape
    for kwargs, (kind, scale) in expectations(name, Din, Dout, K):
        for dtype in (torch.float32, torch.float64):
            w, what = draw(student, name, Din, Dout, K, **kwargs, dtype=dtype)
            if kind == 'uniform':
                expect_uniform(w, scale, what)
            else:
                expect_normal(w, scale, what)


@pytest.mark.parametrize('relu', [True, False])
@pytest.mark.item('kaiming_normal', points=0.3)
def test_kaiming_initializer_alias(student, relu):
    """kaiming_initializer is kaiming_normal under the EECS 498 name, dtype and device included."""
    w, what = draw(student, 'kaiming_initializer', 300, 200, None, relu=relu)
    expect_normal(w, O.kaiming_std(300, 200, None, relu), what)
    for device in O.extra_devices():
        w = student.call('init.kaiming_initializer', 6, 4, None, relu=relu, device=device,
                         dtype=torch.float64).value
        expect_tensor(w, f"kaiming_initializer(6, 4, relu={relu}, device={device!r}, "
                         "dtype=torch.float64)", shape=(6, 4), dtype=torch.float64, device=device)


@pytest.mark.parametrize('name', [pytest.param(n, marks=pytest.mark.item(n, points=0.4))
                                  for n in INITIALIZERS])
def test_dtype_and_device(student, name):
    """The tensor is created with the requested dtype on the requested device,
    on every branch (K None and set); counted once a float64 draw is right."""
    kwargs, (kind, scale) = expectations(name, 60, 40, None)[0]
    w, what = draw(student, name, 60, 40, None, **kwargs, dtype=torch.float64)
    (expect_uniform if kind == 'uniform' else expect_normal)(w, scale, what)
    for device in ['cpu'] + O.extra_devices():
        for dtype in (torch.float32, torch.float64):
            for K in (None, 3):
                kwargs, _ = expectations(name, 6, 4, K)[-1]
                w = student.call(f'init.{name}', 6, 4, K, device=device, dtype=dtype, **kwargs).value
                expect_tensor(w, f"{name}(6, 4, K={K}, device={device!r}, dtype={dtype}"
                                 + ''.join(f', {k}={v!r}' for k, v in kwargs.items()) + ')',
                              shape=O.init_shape(6, 4, K), dtype=dtype, device=device)
