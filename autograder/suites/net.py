"""The student's FullyConnectedNet, and the same net composed here from the
student's own layers, for the net's tests (test_net.py) and the training runs
(test_training.py).

The contract fixes the net: {linear - [norm] - relu - [dropout]} x (L-1) -
linear - softmax, reg * sum(W**2) over the weights. So a net whose glue is
right computes exactly what the student's own layers compose to: when a
layer is wrong, the net follows it and the mistake is charged to the layer's
item alone. `first_wrong_layer` then names that item.
"""
import torch

from autograder.suites import oracles as O
from autograder.suites.checks import (VALUE_TOL, backward, check, expect_tensor, forward, is_close,
                                      plain, unpack)

F64 = torch.float64


def make(student, hidden, **kwargs):
    """A student net, kept in the student's process: a Ref."""
    return student.call('layers.FullyConnectedNet', hidden, **kwargs).ref


def random_params(hidden, input_dim, num_classes, normalization, seed):
    """Params of the contract's shapes with values that keep ReLUs off their kink."""
    params = {}
    for k, (name, shape) in enumerate(
            O.fc_net_param_shapes(hidden, input_dim, num_classes, normalization).items()):
        if name[0] == 'W':
            params[name] = O.randn(*shape, seed=seed + k, scale=shape[0] ** -0.5)
        elif name.startswith('gamma'):
            params[name] = 1 + O.randn(*shape, seed=seed + k, scale=0.2)
        else:
            params[name] = O.randn(*shape, seed=seed + k, scale=0.2)
    return params


def loss(student, net, X, y=None, what='FullyConnectedNet.loss'):
    """scores (y None), or (loss scalar, grads dict)."""
    value = student.call_method(net, 'loss', X, y).value
    if y is None:
        expect_tensor(value, f"{what}(X): scores")
        return value
    value, grads = unpack(value, 2, f"{what}(X, y)", '(loss, grads)')
    expect_tensor(value, f"{what}(X, y): loss")
    check(value.numel() == 1, f"{what}(X, y): loss must be a scalar, got shape {tuple(value.shape)}")
    check(isinstance(grads, dict), f"{what}(X, y): grads must be a dict")
    return value.reshape(()), grads


def dropout_masks(student, N, hidden, p, seed):
    """The scaled keep masks the student's own Dropout.forward draws for each
    hidden layer of a net with this seed (the net passes it in dropout_param)."""
    masks = []
    for H in hidden:
        out, _, _ = forward(student, 'dropout.Dropout.forward', torch.ones(N, H, dtype=F64),
                            {'mode': 'train', 'p': p, 'seed': seed})
        expect_tensor(out, "Dropout.forward: out", shape=(N, H))
        masks.append(out.to(F64))
    return masks


class OwnLayers:
    """The contract's net, run here from the student's own layers (Linear,
    BatchNorm/LayerNorm, ReLU, Dropout, softmax_loss and their backward passes),
    each called through the Student interface. Every call is recorded, so that
    first_wrong_layer can compare each with its oracle on the same inputs.

    norm_backward: 'backward_alt' or 'backward' (which BatchNorm backward the net uses).
    """

    def __init__(self, student, num_layers, normalization=None, reg=0.0, dropout=0.0, seed=None,
                 norm_backward='backward_alt'):
        self.student, self.L, self.normalization, self.reg = student, num_layers, normalization, reg
        self.dropout, self.seed, self.norm_backward = dropout, seed, norm_backward
        self.calls = []   # (item, target, args, value) of every call, in order
        self.inputs_after = {}   # {'X' or param name: the tensor as the forward calls left it}

    def _forward(self, item, target, *args, names=()):
        """(out, (cache, the call's record)); names: the net's names of the
        leading args ('X', 'W1', ...), whose state after the call is kept."""
        out, cache, res = forward(self.student, target, *args)
        record = (item, target, args, out)
        self.calls.append(record)
        self.inputs_after.update((n, a) for n, a in zip(names, res.args) if n)
        return out, (cache, record)

    def _backward(self, item, target, dout, cached, names):
        """The gradients, recorded with the forward call whose cache they used."""
        cache, forward_record = cached
        grads, _ = backward(self.student, target, dout, cache, names)
        self.calls.append((item, target, (dout, forward_record), grads))
        return grads

    def run(self, params, X, y=None, bn_params=None):
        """scores (y None), or (loss, grads); bn_params: per-layer dicts (test mode)."""
        mode = 'test' if y is None else 'train'
        h, caches = X, []
        for i in range(1, self.L):
            h, fc = self._forward('linear_forward', 'layers.Linear.forward', h, params[f'W{i}'],
                                  params[f'b{i}'], names=('X' if i == 1 else '', f'W{i}', f'b{i}'))
            norm = None
            if self.normalization:
                cls, item = (('BatchNorm', 'batchnorm_forward') if self.normalization == 'batchnorm'
                             else ('LayerNorm', 'layernorm_forward'))
                param = dict(bn_params[i - 1]) if bn_params else {}
                param['mode'] = mode
                h, norm = self._forward(item, f'normalization.{cls}.forward', h, params[f'gamma{i}'],
                                        params[f'beta{i}'], param, names=('', f'gamma{i}', f'beta{i}'))
            h, relu = self._forward('relu_forward', 'layers.ReLU.forward', h)
            drop = None
            if self.dropout:
                param = {'mode': mode, 'p': self.dropout}
                if self.seed is not None:
                    param['seed'] = self.seed
                h, drop = self._forward('dropout_forward', 'dropout.Dropout.forward', h, param)
            caches.append((fc, norm, relu, drop))
        scores, last = self._forward('linear_forward', 'layers.Linear.forward', h,
                                     params[f'W{self.L}'], params[f'b{self.L}'],
                                     names=('X' if self.L == 1 else '', f'W{self.L}', f'b{self.L}'))
        if y is None:
            return scores
        res = self.student.call('layers.softmax_loss', scores, y)
        value, dscores = unpack(res.value, 2, 'softmax_loss', '(loss, dx)')
        self.calls.append(('softmax_loss', 'layers.softmax_loss', (scores, y), (value, dscores)))
        grads = {}
        g = self._backward('linear_backward', 'layers.Linear.backward', dscores, last,
                           ('dx', 'dw', 'db'))
        dh, grads[f'W{self.L}'], grads[f'b{self.L}'] = g['dx'], g['dw'], g['db']
        for i in range(self.L - 1, 0, -1):
            fc, norm, relu, drop = caches[i - 1]
            if drop is not None:
                dh = self._backward('dropout_backward', 'dropout.Dropout.backward', dh, drop,
                                    ('dx',))['dx']
            dh = self._backward('relu_backward', 'layers.ReLU.backward', dh, relu, ('dx',))['dx']
            if norm is not None:
                if self.normalization == 'batchnorm':
                    target = f'normalization.BatchNorm.{self.norm_backward}'
                    item = ('batchnorm_backward_alt' if self.norm_backward == 'backward_alt'
                            else 'batchnorm_backward')
                else:
                    target, item = 'normalization.LayerNorm.backward', 'layernorm_backward'
                g = self._backward(item, target, dh, norm, ('dx', 'dgamma', 'dbeta'))
                dh, grads[f'gamma{i}'], grads[f'beta{i}'] = g['dx'], g['dgamma'], g['dbeta']
            g = self._backward('linear_backward', 'layers.Linear.backward', dh, fc,
                               ('dx', 'dw', 'db'))
            dh, grads[f'W{i}'], grads[f'b{i}'] = g['dx'], g['dw'], g['db']
        value = value.reshape(())
        for i in range(1, self.L + 1):
            W = params[f'W{i}']
            value = value + self.reg * (W * W).sum()
            grads[f'W{i}'] = grads[f'W{i}'] + 2 * self.reg * W
        return value, grads

    def first_wrong_layer(self):
        """The item of the first recorded layer call whose result is not its
        oracle's on the same inputs, or None."""
        for item, target, args, value in self.calls:
            if not _layer_right(target, args, value):
                return item
        return None


def _layer_right(target, args, value):
    """Whether one recorded call matches its oracle on the same inputs (a
    backward call on the inputs of the forward call whose cache it used)."""
    name = target.split('.', 1)[1]
    try:
        if name == 'softmax_loss':
            want_loss, (want_dx,) = O.autograd(lambda s: O.softmax_loss(s, args[1]),
                                               [args[0].to(F64)])
            return _close(value[0].reshape(()), want_loss) and _close(value[1], want_dx)
        if name.endswith('.forward'):
            oracle, tensors, options = _oracle_of(name, args)
            return oracle is None or _close(value, oracle(*tensors, **options))
        dout, (_, forward_target, forward_args, forward_out) = args
        if name == 'Dropout.backward':   # the forward's mask: dx * x == dout * out
            return _close(value['dx'] * forward_args[0].to(F64), dout.to(F64) * forward_out.to(F64))
        oracle, tensors, options = _oracle_of(forward_target.split('.', 1)[1], forward_args)
        _, want = O.autograd(lambda *ts: oracle(*ts, **options), tensors, dout.to(F64))
        return all(_close(g, w) for g, w in zip(value.values(), want))
    except (RuntimeError, TypeError, IndexError, AttributeError, KeyError):
        return False


def _oracle_of(name, args):
    """(oracle, float64 tensor inputs, options) of a recorded forward call; oracle None
    when the call has none to compare with (dropout draws a random mask)."""
    if name in ('Linear.forward', 'ReLU.forward'):
        return (O.linear if name == 'Linear.forward' else O.relu), [a.to(F64) for a in args], {}
    if name in ('BatchNorm.forward', 'LayerNorm.forward'):
        param = args[3]
        if name == 'BatchNorm.forward' and param.get('mode') != 'train':
            return (O.batchnorm_test, [a.to(F64) for a in args[:3]]
                    + [param['running_mean'].to(F64), param['running_var'].to(F64)],
                    {'eps': param.get('eps', 1e-5)})
        oracle = O.batchnorm_train if name == 'BatchNorm.forward' else O.layernorm
        return oracle, [a.to(F64) for a in args[:3]], {'eps': param.get('eps', 1e-5)}
    return None, [], {}


def _close(got, want):
    return isinstance(got, torch.Tensor) and got.shape == want.shape and is_close(
        got.to(F64), want, VALUE_TOL)


def params_of(student, net, what):
    """The net's params dict, as data."""
    params = plain(student.getattr(net, 'params'), f"{what}.params")
    check(isinstance(params, dict), f"{what}.params must be a dict")
    return params
