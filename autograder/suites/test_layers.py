"""Hidden tests of scratchnn/layers.py: Linear, ReLU, Linear_ReLU and
softmax_loss (the net is in test_net.py). Student code is reached only through
the `student` fixture; the checks are in passes.py and checks.py.
"""
import math

import pytest
import torch

from autograder.rubric import Graded
from autograder.suites import oracles as O
from autograder.suites import passes as P
from autograder.suites.checks import (F32_TOL, FD_TOL, GRAD_TOL, VALUE_TOL, Reference, backward,
                                      check, expect_match, expect_tensor, expect_unchanged,
                                      forward, is_close, own_forward_errors, unpack)
from autograder.suites.passes import Case, Layer
from autograder.suites.passes import (  # noqa: F401 (the pass tests, parametrized by PASSES)
    test_backward_dtype_and_device, test_backward_gradients, test_backward_leaves_dout_unchanged,
    test_forward_dtype_and_device, test_forward_leaves_inputs_unchanged, test_forward_values)

F64 = torch.float64


# ------------------------------------------------------------------ inputs

def linear_case(case_id, x_shape, M, seed, layout='contiguous'):
    """x (N, d_1..d_k), w (D, M), b (M,). layout 'non-contiguous-x': x and w
    come as a permute and a transpose make them; 'non-contiguous-dout': dout does."""
    D = math.prod(x_shape[1:])

    def tensors():
        x, w = O.randn(*x_shape, seed=seed), O.randn(D, M, seed=seed + 1)
        if layout == 'non-contiguous-x':
            x, w = O.non_contiguous(x), O.non_contiguous(w)
        return {'x': x, 'w': w, 'b': O.randn(M, seed=seed + 2)}

    what = f"x of shape {x_shape}, w of shape {(D, M)}" + {
        'contiguous': '', 'non-contiguous-x': " (x and w non-contiguous)",
        'non-contiguous-dout': " (dout non-contiguous)"}[layout]
    return Case(case_id, what, tensors, {'non_contiguous_dout': layout == 'non-contiguous-dout'})


def relu_case(case_id, shape, seed, zeros=False, layout='contiguous'):
    """x away from the kink at 0 (or with exact zeros, where dx must be 0)."""
    def tensors():
        x = O.randn(*shape, seed=seed)
        x = x + 0.1 * torch.sign(x)
        if zeros:
            x.view(-1)[::5] = 0.0
        return {'x': O.non_contiguous(x) if layout == 'non-contiguous-x' else x}

    what = f"x of shape {shape}" + (", some elements exactly 0" if zeros else '') + {
        'contiguous': '', 'non-contiguous-x': " (x non-contiguous)",
        'non-contiguous-dout': " (dout non-contiguous)"}[layout]
    return Case(case_id, what, tensors, {'non_contiguous_dout': layout == 'non-contiguous-dout'},
                numeric=not zeros)


def linear_relu_by_parts(student, tensors, options, dout):
    """Linear_ReLU as the contract builds it, from the student's own Linear and ReLU."""
    def parts():
        a, linear_cache, res = forward(student, 'layers.Linear.forward', *tensors.values())
        inputs = dict(zip(tensors, res.args))
        out, relu_cache, _ = forward(student, 'layers.ReLU.forward', a)
        if dout is None:
            return P.Composed(out, inputs=inputs)
        da, res = backward(student, 'layers.ReLU.backward', dout, relu_cache, ('dx',))
        grads, _ = backward(student, 'layers.Linear.backward', da['dx'], linear_cache,
                            ('dx', 'dw', 'db'))
        return P.Composed(out, grads, inputs, dout=res.args[0])
    return [("your own Linear and ReLU, composed", parts)]


LINEAR = Layer('Linear', 'layers', 'linear_forward', 'linear_backward', ('x', 'w', 'b'),
               O.linear)
RELU = Layer('ReLU', 'layers', 'relu_forward', 'relu_backward', ('x',), O.relu)
LINEAR_RELU = Layer('Linear_ReLU', 'layers', 'linear_relu', 'linear_relu', ('x', 'w', 'b'),
                    O.linear_relu, by_parts=linear_relu_by_parts)

CASES = {
    LINEAR: [linear_case('2d', (4, 5), 3, seed=10), linear_case('4d', (2, 3, 4, 5), 7, seed=20),
             linear_case('one-example', (1, 6), 1, seed=30), linear_case('wide', (10, 3), 8, seed=40),
             linear_case('non-contiguous-x', (3, 2, 2, 2), 5, seed=50, layout='non-contiguous-x'),
             linear_case('non-contiguous-dout', (3, 4, 2), 5, seed=55,
                         layout='non-contiguous-dout')],
    RELU: [relu_case('2d', (4, 5), seed=60), relu_case('4d', (2, 3, 4, 5), seed=61),
           relu_case('1d', (7,), seed=62), relu_case('exact-zeros', (4, 5), seed=64, zeros=True),
           relu_case('non-contiguous-x', (3, 4, 2), seed=63, layout='non-contiguous-x'),
           relu_case('non-contiguous-dout', (3, 4, 2), seed=65, layout='non-contiguous-dout')],
    LINEAR_RELU: [linear_case('2d', (4, 6), 5, seed=70), linear_case('4d', (2, 3, 2, 2), 4, seed=80),
                  linear_case('non-contiguous-x', (3, 2, 4), 5, seed=90, layout='non-contiguous-x'),
                  linear_case('non-contiguous-dout', (3, 4), 5, seed=95,
                              layout='non-contiguous-dout')],
}
ALL = [(layer, case) for layer, cases in CASES.items() for case in cases]
PASSES = P.Passes(
    forward=ALL, backward=ALL,
    # item: points of (values, dtype and device, inputs unchanged)
    forward_points={'linear_forward': (2.25, 0.45, 0.3), 'relu_forward': (1.5, 0.3, 0.2),
                    'linear_relu': (0.8, 0.1, 0.1)},
    # item: points of (gradients, dtype and device, dout unchanged)
    backward_points={'linear_backward': (3, 0.6, 0.4), 'relu_backward': (1.5, 0.3, 0.2),
                     'linear_relu': (0.8, 0.1, 0.1)})
ITEMS = {**PASSES.items(), 'softmax_loss': Graded(('layers.softmax_loss',))}


def pytest_generate_tests(metafunc):
    PASSES.parametrize(metafunc)


# ------------------------------------------------------------------ softmax_loss

SOFTMAX_CASES = {  # id: (N, C, scale, shift of one column)
    '5x4': (5, 4, 2.0, 0.0), 'one-example': (1, 3, 2.0, 0.0), 'two-classes': (8, 2, 2.0, 0.0),
    '50x10': (50, 10, 2.0, 0.0), 'scores-around-1000': (6, 5, 3.0, 1000.0)}


def softmax_inputs(case_id, dtype=F64):
    N, C, scale, shift = SOFTMAX_CASES[case_id]
    seed = 100 + list(SOFTMAX_CASES).index(case_id)
    x = O.randn(N, C, seed=seed, scale=scale)
    if shift:  # exp() overflows here unless the row max is subtracted
        x[:, 0] += shift
        x[N // 2] -= 2 * shift
    return x.to(dtype), O.labels(N, C, seed + 50)


def softmax_call(student, x, y, what):
    res = student.call('layers.softmax_loss', x, y)
    loss, dx = unpack(res.value, 2, 'softmax_loss', '(loss, dx)')
    expect_tensor(loss, f"softmax_loss: loss {what}")
    check(loss.numel() == 1, f"softmax_loss: loss {what} must be a scalar, got shape "
                             f"{tuple(loss.shape)}")
    return loss.reshape(()), dx, res


def softmax_params(ids, points):
    return [pytest.param(i, id=i, marks=pytest.mark.item('softmax_loss', points=points)) for i in ids]


@pytest.mark.parametrize('case_id', softmax_params(
    [c for c in SOFTMAX_CASES if c != 'scores-around-1000'], points=1.5))
def test_softmax_loss_values(student, case_id):
    x, y = softmax_inputs(case_id)
    what = f"for {tuple(x.shape)} scores"
    loss, _, _ = softmax_call(student, x, y, what)
    expect_match(f"softmax_loss {what}", {'loss': loss},
                 [Reference('the true loss', lambda: {'loss': O.softmax_loss(x, y)}, VALUE_TOL)])


@pytest.mark.parametrize('case_id', softmax_params(SOFTMAX_CASES, points=1.5))
def test_softmax_loss_gradient(student, case_id):
    """dx is the true gradient, or exact for the student's own loss."""
    x, y = softmax_inputs(case_id)
    what = f"for {tuple(x.shape)} scores" + (" around 1000" if 'around' in case_id else '')
    loss, dx, _ = softmax_call(student, x, y, what)
    want_loss, (want,) = O.autograd(lambda s: O.softmax_loss(s, y), [x])
    references = [Reference('the true gradient', lambda: {'dx': want}, GRAD_TOL)]
    if not is_close(loss, want_loss, VALUE_TOL):   # a wrong loss: dx may follow it instead
        references.append(Reference('a numeric gradient of your own loss', lambda: own_forward_errors(
            lambda ins: softmax_call(student, ins[0], y, what)[0], {'dx': x}, {'dx': dx}, None,
            seed=7, what="your softmax_loss"), FD_TOL, errors=True))
    expect_match(f"softmax_loss {what}", {'dx': dx}, references)


@pytest.mark.item('softmax_loss', points=1.25)
@pytest.mark.parametrize('dtype', [pytest.param(F64, id='float64'),
                                   pytest.param(torch.float32, id='float32')])
def test_softmax_loss_large_scores(student, dtype):
    """Scores around +-1000 overflow exp() unless the row max is subtracted."""
    x, y = softmax_inputs('scores-around-1000', dtype)
    tol = VALUE_TOL if dtype == F64 else F32_TOL
    what = f"for {dtype} scores around 1000"
    loss, dx, _ = softmax_call(student, x, y, what)
    want_loss, (want_dx,) = O.autograd(lambda s: O.softmax_loss(s, y), [x.double()])
    expect_match(f"softmax_loss {what}", {'loss': loss, 'dx': dx},
                 [Reference('the true loss and gradient',
                            lambda: {'loss': want_loss, 'dx': want_dx}, tol)])


def check_softmax_right(student, x, y, what):
    """Side conditions count once the loss and dx are right."""
    loss, dx, res = softmax_call(student, x, y, what)
    want_loss, (want_dx,) = O.autograd(lambda s: O.softmax_loss(s, y), [x])
    expect_match(f"softmax_loss {what}", {'loss': loss, 'dx': dx},
                 [Reference('the true loss and gradient', lambda: {'loss': want_loss, 'dx': want_dx},
                            VALUE_TOL)])
    return loss, dx, res


@pytest.mark.item('softmax_loss', points=0.5)
def test_softmax_loss_dtype_and_device(student):
    x64, y = softmax_inputs('5x4')
    loss64, dx64, _ = check_softmax_right(student, x64, y, "for (5, 4) scores")
    for device, dtype in P.dtype_device_cases():
        loss, dx, _ = softmax_call(student, x64.to(device=device, dtype=dtype), y.to(device),
                                   f"for {dtype} scores on {device}")
        expect_tensor(loss, f"softmax_loss: loss for {dtype} scores on {device}", dtype=dtype,
                      device=device)
        expect_tensor(dx, f"softmax_loss: dx for {dtype} scores on {device}", shape=(5, 4),
                      dtype=dtype, device=device)
        if device == 'cpu':
            expect_match(f"softmax_loss for {dtype} scores", {'loss': loss, 'dx': dx},
                         [Reference('your float64 result', lambda: {'loss': loss64, 'dx': dx64},
                                    F32_TOL)])


@pytest.mark.item('softmax_loss', points=0.25)
def test_softmax_loss_leaves_inputs_unchanged(student):
    x, y = softmax_inputs('5x4')
    x = O.non_contiguous(x)
    _, _, res = check_softmax_right(student, x, y, "for non-contiguous scores")
    expect_unchanged(res.args[0], x, "softmax_loss: x")
    expect_unchanged(res.args[1], y, "softmax_loss: y")
