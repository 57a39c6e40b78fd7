"""Hidden tests of scratchnn/layers.py: FullyConnectedNet.

The net's scores, loss and gradients earn their points when they are the
oracle's, or what the student's own layers compose to (net.OwnLayers): a
wrong layer is charged to its own item, not to the net too. Train mode with
dropout is compared with the oracle under the masks the student's own
Dropout draws with the net's seed (the contract's seed makes them repeat).
"""
import math

import pytest
import torch

from autograder.isolation.student import StudentError
from autograder.rubric import Graded
from autograder.suites import net as N
from autograder.suites import oracles as O
from autograder.suites import passes as P
from autograder.suites.checks import (FD_TOL, GRAD_TOL, NOTES, VALUE_TOL, Failure, Reference, check,
                                      expect_match,
                                      expect_normal, expect_tensor, expect_unchanged, is_close,
                                      own_forward_errors, same_spread)

F64 = torch.float64
ITEMS = {'fc_net': Graded(('layers.FullyConnectedNet.__init__', 'layers.FullyConnectedNet.loss'))}


def net_with_params(student, hidden, input_dim, num_classes, param_seed, **kwargs):
    """A float64 student net (kwargs: its options) holding random params; (net Ref, params)."""
    net = N.make(student, hidden, input_dim=input_dim, num_classes=num_classes, dtype=F64, **kwargs)
    params = N.random_params(hidden, input_dim, num_classes, kwargs.get('normalization'), param_seed)
    student.setattr(net, 'params', params)
    return net, params


def own_layers(student, L, normalization=None, **kwargs):
    """[(label, OwnLayers)]: the student's own layers composed, with each
    BatchNorm backward the net may use."""
    if normalization != 'batchnorm':
        return [("your own layers, composed",
                 N.OwnLayers(student, L, normalization, **kwargs))]
    return [(f"your own layers, composed (with BatchNorm.{b})",
             N.OwnLayers(student, L, normalization, norm_backward=b, **kwargs))
            for b in ('backward_alt', 'backward')]


def wrong_layer(owns):
    """'your layers are wrong: see batchnorm_forward' from the compositions that ran."""
    for _, own in owns:
        item = own.first_wrong_layer() if own.calls else None
        if item:
            return f"one of your layers is wrong (see {item})"
    return ''


def check_scores(student, net, params, X, L, what, normalization=None, running=None, **kwargs):
    """loss(X): the oracle's scores, or the student's own layers'."""
    scores = N.loss(student, net, X, what=what)
    bn_params = [{'running_mean': m, 'running_var': v} for m, v in running] if running else None
    references = [Reference('the true net', lambda: {'scores': O.fc_net_scores(
        params, X, L, normalization, running=running)}, VALUE_TOL)]
    owns = own_layers(student, L, normalization, **kwargs)[:1]
    for label, own in owns:
        references.append(Reference(label, lambda own=own: {
            'scores': own.run(params, X, bn_params=bn_params)}, VALUE_TOL))
    expect_match(f"{what}(X) (test mode)", {'scores': scores}, references,
                 because=lambda: wrong_layer(owns))


def check_loss_and_grads(student, net, params, X, y, L, what, normalization=None, reg=0.0,
                         masks=None, dropout=0.0, seed=None):
    """loss(X, y): the oracle's loss and gradients, or the student's own
    layers'; the gradients may also be exact for the net's own loss."""
    value, grads = N.loss(student, net, X, y, what=what)
    names = sorted(params)
    check(set(grads) == set(params), f"{what}(X, y): grads has keys {sorted(grads)}, "
                                     f"expected {names}")
    want_loss, want = O.fc_net_loss_and_grads(params, X, y, L, normalization, reg, masks)
    owns = own_layers(student, L, normalization, reg=reg, dropout=dropout, seed=seed)
    runs = {label: (lambda own=own: own.run(params, X, y)) for label, own in owns}
    cached = {}

    def run(label):
        if label not in cached:
            cached[label] = runs[label]()
        return cached[label]

    expect_match(f"{what}(X, y)", {'loss': value},
                 [Reference('the true net', lambda: {'loss': want_loss}, VALUE_TOL)]
                 + [Reference(label, lambda label=label: {'loss': run(label)[0]}, VALUE_TOL)
                    for label in runs], because=lambda: wrong_layer(owns))

    def own_loss_errors():
        def loss_at(ins):
            student.setattr(net, 'params', dict(zip(names, ins)))
            return N.loss(student, net, X, y, what=what)[0]
        try:
            return own_forward_errors(loss_at, {k: params[k] for k in names}, grads, None, seed=3,
                                      directions=1, what=f"your {what}")
        finally:
            student.setattr(net, 'params', params)

    expect_match(f"{what}(X, y)", {f"grads['{k}']": grads[k] for k in names},
                 [Reference('the true net', lambda: {f"grads['{k}']": want[k] for k in names},
                            GRAD_TOL)]
                 + [Reference(label, lambda label=label: {f"grads['{k}']": g for k, g in
                                                          run(label)[1].items()}, GRAD_TOL)
                    for label in runs]
                 + ([Reference('a numeric gradient of your own loss', lambda: {
                     f"grads['{k}']": e for k, e in own_loss_errors().items()}, FD_TOL,
                     errors=True)] if not is_close(value, want_loss, VALUE_TOL) else []),
                 because=lambda: wrong_layer(owns))


# ------------------------------------------------------------------ construction

NETS = [  # (hidden_dims, input_dim, normalization, dtype)
    ([150, 40], 200, None, F64), ([30], 200, 'batchnorm', torch.float32),
    ([30, 20], 200, 'layernorm', F64), ([], 20, None, F64)]


@pytest.mark.parametrize('hidden, input_dim, norm, dtype', NETS,
                         ids=['two-hidden', 'batchnorm-float32', 'layernorm', 'no-hidden-layer'])
@pytest.mark.item('fc_net', points=1.0)
def test_fc_net_params(student, hidden, input_dim, norm, dtype):
    """The params of the contract: keys, shapes, dtype; biases and beta at 0, gamma at 1."""
    what = f"FullyConnectedNet({hidden}, input_dim={input_dim}, normalization={norm!r}, dtype={dtype})"
    net = N.make(student, hidden, input_dim=input_dim, num_classes=10, normalization=norm,
                 dtype=dtype, seed=3)
    params = N.params_of(student, net, what)
    want = O.fc_net_param_shapes(hidden, input_dim, 10, norm)
    check(set(params) == set(want), f"{what}.params has keys {sorted(params)}, expected "
                                    f"{sorted(want)}")
    for k, shape in want.items():
        expect_tensor(params[k], f"{what}.params['{k}']", shape=shape, dtype=dtype)
        if k[0] == 'b' or k.startswith('beta'):
            check(bool((params[k] == 0).all()), f"{what}.params['{k}'] must start at zeros")
        elif k.startswith('gamma'):
            check(bool((params[k] == 1).all()), f"{what}.params['{k}'] must start at ones")


def init_stds(scheme, dims):
    """{W name: [acceptable std]} of the contract's weight_scale branches."""
    stds = {}
    for i in range(1, len(dims)):
        din, dout = dims[i - 1], dims[i]
        if scheme == 'xavier':
            stds[f'W{i}'] = [O.xavier_std(din, dout)]
        else:  # the last layer feeds the softmax, not a ReLU: either gain is right
            last = i == len(dims) - 1
            stds[f'W{i}'] = [O.kaiming_std(din, dout, relu=True)] + (
                [O.kaiming_std(din, dout, relu=False)] if last else [])
    return stds


def own_draws(student, scheme, din, dout, last):
    """Draws of the student's own initializers for a (din, dout) weight."""
    if scheme == 'xavier':
        calls = [('init.xavier_normal', {}), ('init.xavier_uniform', {})]
    else:
        calls = [('init.kaiming_normal', {'relu': r}) for r in (True, False)[:1 + last]] + [
            ('init.kaiming_uniform', {'relu': r}) for r in (True, False)[:1 + last]]
    for target, kwargs in calls:
        try:
            w = student.call(target, din, dout, dtype=F64, **kwargs).value
        except Exception:  # noqa: BLE001 - a broken initializer is simply no reference
            continue
        if isinstance(w, torch.Tensor):
            yield w


@pytest.mark.parametrize('scheme', ['float', 'xavier', 'kaiming'])
@pytest.mark.item('fc_net', points=0.9)
def test_fc_net_weight_init(student, scheme):
    """weight_scale: a float is the std of a normal init; 'xavier' and
    'kaiming' the std of those schemes (any distribution), or of the
    student's own initializers (whose mistakes are charged to them)."""
    hidden, input_dim = [150, 40], 200
    dims = [input_dim, *hidden, 10]
    scale = 0.05 if scheme == 'float' else scheme
    what = f"FullyConnectedNet({hidden}, input_dim={input_dim}, weight_scale={scale!r})"
    params = N.params_of(student, N.make(student, hidden, input_dim=input_dim, weight_scale=scale,
                                         dtype=F64, seed=4), what)
    for i in range(1, len(dims)):
        W = params.get(f'W{i}')
        expect_tensor(W, f"{what}.params['W{i}']", shape=(dims[i - 1], dims[i]))
        if scheme == 'float':
            expect_normal(W, 0.05, f"{what}.params['W{i}']")
            continue
        sd = W.double().std().item()
        stds = init_stds(scheme, dims)[f'W{i}']
        tol = 6 / math.sqrt(W.numel())
        if any(abs(sd - s) <= tol * s for s in stds):
            continue
        last = i == len(dims) - 1
        check(any(same_spread(W, w) for w in own_draws(student, scheme, dims[i - 1], dims[i], last)),
              f"{what}.params['W{i}'] has standard deviation {sd:.4g}, expected "
              + ' or '.join(f'{s:.4g}' for s in stds))


# ------------------------------------------------------------------ scores, loss, gradients

SCORE_CASES = {  # id: (hidden, X shape, non-contiguous X)
    'two-hidden': ([7, 6], (5, 12), False), 'image-input': ([9], (4, 1, 3, 4), False),
    'no-hidden-layer': ([], (3, 12), False), 'non-contiguous-input': ([8], (4, 3, 2, 2), True)}


@pytest.mark.parametrize('case', SCORE_CASES)
@pytest.mark.item('fc_net', points=1.0)
def test_fc_net_scores(student, case):
    hidden, shape, strided = SCORE_CASES[case]
    D = math.prod(shape[1:])
    net, params = net_with_params(student, hidden, D, 5, param_seed=200 + len(case))
    X = O.randn(*shape, seed=201)
    if strided:
        X = O.non_contiguous(X)
    check_scores(student, net, params, X, len(hidden) + 1,
                 f"FullyConnectedNet({hidden}) for X of shape {shape}"
                 + (" (non-contiguous)" if strided else ''))


LOSS_CASES = {'two-hidden': ([7, 6], (5, 12)), 'image-input': ([9], (4, 1, 3, 4)),
              'no-hidden-layer': ([], (6, 12))}


@pytest.mark.parametrize('case', LOSS_CASES)
@pytest.mark.item('fc_net', points=1.5)
def test_fc_net_loss_and_grads(student, case):
    hidden, shape = LOSS_CASES[case]
    net, params = net_with_params(student, hidden, math.prod(shape[1:]), 5, param_seed=300 + len(case))
    X, y = O.randn(*shape, seed=301), O.labels(shape[0], 5, 302)
    check_loss_and_grads(student, net, params, X, y, len(hidden) + 1,
                         f"FullyConnectedNet({hidden}).loss for X of shape {shape}")


@pytest.mark.parametrize('reg', [0.3, 1.7])
@pytest.mark.item('fc_net', points=0.9)
def test_fc_net_regularization(student, reg):
    net, params = net_with_params(student, [8, 6], 10, 4, param_seed=400, reg=reg)
    X, y = O.randn(6, 10, seed=401), O.labels(6, 4, 402)
    check_loss_and_grads(student, net, params, X, y, 3,
                         f"FullyConnectedNet([8, 6], reg={reg}).loss", reg=reg)


@pytest.mark.parametrize('norm', ['batchnorm', 'layernorm', 'batchnorm-test-mode'])
@pytest.mark.item('fc_net', points=1.0)
def test_fc_net_normalization(student, norm):
    X, y = O.randn(8, 10, seed=500, scale=2.0), O.labels(8, 4, 501)
    if norm != 'batchnorm-test-mode':
        net, params = net_with_params(student, [7, 6], 10, 4, param_seed=510, normalization=norm,
                                      reg=0.1)
        check_loss_and_grads(student, net, params, X, y, 3,
                             f"FullyConnectedNet([7, 6], normalization={norm!r}, reg=0.1).loss",
                             normalization=norm, reg=0.1)
        return
    # Test mode: batchnorm uses the running statistics the net keeps in bn_params.
    net, params = net_with_params(student, [7, 6], 10, 4, param_seed=520, normalization='batchnorm')
    running = [(O.randn(d, seed=530 + d), O.randn(d, seed=540 + d).abs() + 0.5) for d in (7, 6)]
    student.setattr(net, 'bn_params', [{'mode': 'train', 'running_mean': m, 'running_var': v}
                                       for m, v in running])
    check_scores(student, net, params, O.randn(5, 10, seed=550), 3,
                 "FullyConnectedNet([7, 6], normalization='batchnorm') with running statistics "
                 "in bn_params", normalization='batchnorm', running=running)


DROPOUT_CASES = {  # id: (normalization, the net's seed: 0 is a seed too)
    'dropout-seed-0': (None, 0), 'dropout-and-batchnorm': ('batchnorm', 5),
    'dropout-and-layernorm': ('layernorm', 5)}


@pytest.mark.parametrize('case', DROPOUT_CASES)
@pytest.mark.item('fc_net', points=1.0)
def test_fc_net_dropout(student, case):
    """Test mode drops nothing; train mode is the oracle under the masks the
    student's own Dropout draws with the net's seed (after each ReLU). Where
    that Dropout draws different masks for one seed (dropout_forward's
    mistake), train mode cannot be compared with anything: not charged here."""
    (norm, seed), p, hidden = DROPOUT_CASES[case], 0.4, [9, 8]
    what = f"FullyConnectedNet({hidden}, dropout={p}, normalization={norm!r}, seed={seed})"
    net, params = net_with_params(student, hidden, 10, 4, param_seed=600, dropout=p, seed=seed,
                                  normalization=norm)
    X, y = O.randn(20, 10, seed=601), O.labels(20, 4, 602)
    if norm is None:
        check_scores(student, net, params, X, 3, what, dropout=p, seed=seed)
    masks = N.dropout_masks(student, 20, hidden, p, seed)
    if not all(torch.equal(a, b) for a, b in zip(masks, N.dropout_masks(student, 20, hidden, p,
                                                                        seed))):
        NOTES.append(f"{what}: train mode not checked: your Dropout.forward draws different masks "
                     f"with seed={seed}, so it cannot be compared with anything (see dropout_forward)")
        return
    check_loss_and_grads(student, net, params, X, y, 3, what, normalization=norm, masks=masks,
                         dropout=p, seed=seed)


# ------------------------------------------------------------------ devices, side conditions

DEVICE_CASES = {'batchnorm': dict(normalization='batchnorm'), 'xavier': dict(weight_scale='xavier'),
                'kaiming': dict(weight_scale='kaiming')}


@pytest.mark.parametrize('case', DEVICE_CASES)
@pytest.mark.item('fc_net', points=0.4)
def test_fc_net_dtype_and_device(student, case):
    """Params, scores, loss and grads on the requested device with the requested
    dtype; counted once the net's float64 scores are right."""
    net, params = net_with_params(student, [6], 5, 3, param_seed=710, **DEVICE_CASES[case])
    check_scores(student, net, params, O.randn(4, 5, seed=711), 2, "FullyConnectedNet([6])",
                 normalization=DEVICE_CASES[case].get('normalization'))
    for device, dtype in [('cpu', torch.float32), ('cpu', F64)] + [(d, F64) for d in
                                                                    O.extra_devices()]:
        kwargs = DEVICE_CASES[case]
        what = (f"FullyConnectedNet([6], input_dim=5, {', '.join(f'{k}={v!r}' for k, v in kwargs.items())}"
                f", dtype={dtype}, device={device!r})")
        net = N.make(student, [6], input_dim=5, num_classes=3, device=device, dtype=dtype, **kwargs)
        if not params_as_requested(student, net, kwargs, dtype, device, what):
            continue   # the net cannot run on them: its loss is not checked on this device
        X, y = O.randn(4, 5, seed=700, dtype=dtype).to(device), O.labels(4, 3, 701).to(device)
        outputs = {'scores': N.loss(student, net, X, what=what)}
        outputs['loss'], grads = N.loss(student, net, X, y, what=what)
        outputs.update({f"grads['{k}']": g for k, g in grads.items()})
        try:
            for name, t in outputs.items():
                expect_tensor(t, f"{what}.loss: {name}", dtype=dtype, device=device)
        except Failure as e:
            own = N.OwnLayers(student, 2, kwargs.get('normalization'))
            if kinds(outputs) != kinds(own_outputs(own, N.params_of(student, net, what), X, y)):
                raise
            NOTES.append(f"{e}, as your own layers composed give it: charged to them, not here")


def own_inputs_after(student, params, X, y):
    """{'X' and param names: tensor} as the student's own layers, composed into
    the net of test_fc_net_leaves_inputs_unchanged, leave them ({} where they fail)."""
    own = N.OwnLayers(student, 2, 'batchnorm')
    try:
        own.run(params, X, y)
    except (StudentError, Failure, RuntimeError, TypeError, KeyError):
        return {}
    return {'X': X, **params, **own.inputs_after}


def kinds(outputs):
    """{name: (dtype, device type)} of a dict of tensors (None for a non-tensor)."""
    return {k: (v.dtype, v.device.type) if isinstance(v, torch.Tensor) else None
            for k, v in outputs.items()}


def own_outputs(own, params, X, y):
    """The outputs test_fc_net_dtype_and_device checks, from the student's own layers."""
    try:
        outputs = {'scores': own.run(params, X)}
        outputs['loss'], grads = own.run(params, X, y)
    except (StudentError, Failure, RuntimeError, TypeError, KeyError):
        return {}   # the layers fail on their own: nothing to compare with
    return {**outputs, **{f"grads['{k}']": g for k, g in grads.items()}}


def params_as_requested(student, net, kwargs, dtype, device, what):
    """Whether the net's params have the requested dtype and device. Where one
    does not only because the student's own initializer draws it so, that
    initializer's item pays for it (a note says so) and this returns False;
    where the net itself is to blame, it fails."""
    for k, p in N.params_of(student, net, what).items():
        try:
            expect_tensor(p, f"{what}.params['{k}']", dtype=dtype, device=device)
        except Failure as e:
            culprit = init_culprit(student, kwargs, k, dtype, device)
            if culprit is None:
                raise
            NOTES.append(f"{e}, as your {culprit} draws it: charged to {culprit}, not here")
            return False
    return True


def init_culprit(student, kwargs, name, dtype, device):
    """The initializer item whose own result has the wrong dtype or device for a
    weight the net draws with it (None: the net's own mistake)."""
    scheme = kwargs.get('weight_scale')
    if name[0] != 'W' or scheme not in ('xavier', 'kaiming'):
        return None
    item = f'{scheme}_normal'
    try:
        w = student.call(f'init.{item}', 5, 6, device=device, dtype=dtype).value
    except Exception:  # noqa: BLE001 - an initializer that fails is the culprit too
        return item
    right = isinstance(w, torch.Tensor) and w.dtype == dtype and w.device.type == device
    return None if right else item


@pytest.mark.item('fc_net', points=0.3)
def test_fc_net_leaves_inputs_unchanged(student):
    """loss leaves X and the params unchanged (side conditions)."""
    net, params = net_with_params(student, [7], 8, 3, param_seed=800, normalization='batchnorm')
    X, y = O.non_contiguous(O.randn(5, 2, 4, seed=801)), O.labels(5, 3, 802)
    check_loss_and_grads(student, net, params, X, y, 2, "FullyConnectedNet([7]).loss",
                         normalization='batchnorm')
    res = student.call_method(net, 'loss', X, y)
    before, after = {'X': X, **params}, {'X': res.args[0], **N.params_of(student, net, "the net")}
    if P.unchanged(after, before):
        return
    if P.same_tensors({k: after.get(k) for k in before}, own_inputs_after(student, params, X, y)):
        NOTES.append("FullyConnectedNet.loss changes its inputs as your own layers do: charged to "
                     "them, not here")
        return
    for k, p in before.items():
        expect_unchanged(after.get(k), p, f"FullyConnectedNet.loss(X, y): "
                                          + ('X' if k == 'X' else f"params['{k}']"))
