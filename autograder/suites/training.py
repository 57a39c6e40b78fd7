"""Training runs driven by the grader: the student's net trains on the digits,
and every number that decides the grade is computed here.

This process owns the data, the minibatches, the parameters and the update
rule (torch.optim: the student's optimizers are graded by their own items).
At each step it sets the parameters on the student's net, asks it for the
loss and gradients of the batch, checks them against its own float64 oracle
on the same parameters and batch, and only then takes the step. It tracks
BatchNorm's running statistics itself and checks the net's at the end, and
measures the validation accuracy with its oracle on the parameters and
statistics it holds. A net can therefore only earn the points by computing
the right loss and gradients at every step: forged gradients, parameters or
statistics are caught, and none of them reaches the accuracy.
"""
from dataclasses import dataclass, field

import torch

from autograder.suites import net as N
from autograder.suites import oracles as O
from autograder.suites.checks import GRAD_TOL, VALUE_TOL, Failure, check, mismatch

F64 = torch.float64


@dataclass(frozen=True)
class Run:
    """One training run of a FullyConnectedNet on the digits."""
    hidden_dims: tuple
    update_rule: str              # the trusted rule: a torch.optim rule of oracles.TORCH_RULES
    learning_rate: float
    steps: int
    threshold: float              # validation accuracy the run must reach
    normalization: str = None
    reg: float = 0.0
    batch_size: int = 50
    weight_scale: float = 1e-2
    seed: int = 0
    data_seed: int = 0
    extra: dict = field(default_factory=dict)

    def describe(self):
        return (f"FullyConnectedNet({list(self.hidden_dims)}, normalization={self.normalization!r}, "
                f"reg={self.reg}) trained {self.steps} steps on the digits (batches of "
                f"{self.batch_size}, {self.update_rule} at lr {self.learning_rate})")

    @property
    def num_layers(self):
        return len(self.hidden_dims) + 1


def initial_params(run):
    """The trusted initialization: normal weights of std weight_scale, zero
    biases and beta, unit gamma (float64, CPU)."""
    gen = O.generator(run.seed)
    params = {}
    for name, shape in O.fc_net_param_shapes(run.hidden_dims, 64, 10, run.normalization).items():
        if name[0] == 'W':
            params[name] = run.weight_scale * torch.randn(*shape, generator=gen, dtype=F64)
        else:
            params[name] = (torch.ones if name.startswith('gamma') else torch.zeros)(*shape, dtype=F64)
    return params


def train(student, run, device='cpu'):
    """Train the student's net with the trusted loop; returns the validation
    accuracy. Raises Failure (with the item that caused it) when the net's
    loss, gradients or running statistics are wrong."""
    data = O.digits(run.data_seed)
    X, y = data['X_train'], data['y_train']
    gen = O.generator(run.seed + 1)
    params = initial_params(run)
    optimizer = O.torch_optimizer(run.update_rule, list(params.values()),
                                  {'learning_rate': run.learning_rate})
    running = [(torch.zeros(d, dtype=F64), torch.zeros(d, dtype=F64)) for d in run.hidden_dims]
    net = N.make(student, list(run.hidden_dims), input_dim=64, num_classes=10,
                 normalization=run.normalization, reg=run.reg, dtype=F64, device=device,
                 seed=run.seed)
    what = f"{run.describe()}: FullyConnectedNet.loss"
    for step in range(1, run.steps + 1):
        batch = torch.randint(X.shape[0], (run.batch_size,), generator=gen)
        Xb, yb = X[batch], y[batch]
        student.setattr(net, 'params', {k: v.to(device) for k, v in params.items()})
        loss, grads = N.loss(student, net, Xb.to(device), yb.to(device), what=what)
        stats = []
        want_loss, want = O.fc_net_loss_and_grads(params, Xb, yb, run.num_layers,
                                                  run.normalization, run.reg, stats=stats)
        problem = _wrong(loss, grads, want_loss, want)
        if problem:
            item, how = _find_cause(student, run, params, Xb, yb)
            raise Failure(f"{what} at step {step}: {problem}; the run stops here ({how}: "
                          f"see {item})", caused_by=item)
        with torch.no_grad():
            for name, p in params.items():
                p.grad = grads[name].detach().to('cpu', F64)
            optimizer.step()
        running = [(O.running_update(m, bm), O.running_update(v, bv))
                   for (m, v), (bm, bv) in zip(running, stats)]
    if run.normalization == 'batchnorm':
        _check_running_statistics(student, net, run, running)
    scores = O.fc_net_scores(params, data['X_val'], run.num_layers, run.normalization,
                             running=running if run.normalization == 'batchnorm' else None)
    return O.accuracy(scores, data['y_val'])


def _wrong(loss, grads, want_loss, want):
    """Why the net's loss and gradients are not the oracle's ('' when they are)."""
    why = mismatch(loss.to(F64), want_loss, VALUE_TOL)
    if why:
        return f"the loss is wrong ({why})"
    if set(grads) != set(want):
        return f"grads has keys {sorted(grads)}, expected {sorted(want)}"
    for name in sorted(want):
        g = grads[name]
        if not isinstance(g, torch.Tensor) or tuple(g.shape) != tuple(want[name].shape):
            return f"grads['{name}'] is not a tensor of shape {tuple(want[name].shape)}"
        why = mismatch(g.to(F64), want[name], GRAD_TOL)
        if why:
            return f"grads['{name}'] is wrong ({why})"
    return ''


def _find_cause(student, run, params, X, y):
    """(item, how) that made the net's loss or gradients wrong: a layer of the
    student's when the net is exactly its layers composed, else fc_net."""
    own = N.OwnLayers(student, run.num_layers, run.normalization, reg=run.reg)
    try:
        own_loss, own_grads = own.run(params, X, y)
    except Exception:  # noqa: BLE001 - the student's layers fail on their own: the net it is
        return 'fc_net', 'your net'
    net = N.make(student, list(run.hidden_dims), input_dim=64, num_classes=10,
                 normalization=run.normalization, reg=run.reg, dtype=F64, seed=run.seed)
    student.setattr(net, 'params', params)
    loss, grads = N.loss(student, net, X, y)
    if _wrong(loss, grads, own_loss, own_grads):
        return 'fc_net', 'your net'
    layer = own.first_wrong_layer()
    return (layer, f"your net is right for your layers, but {layer} is wrong") if layer else (
        'fc_net', 'your net')


def _check_running_statistics(student, net, run, running):
    """The net's bn_params hold the running statistics this process tracked."""
    bn_params = student.getattr(net, 'bn_params')
    what = f"{run.describe()}: the net's bn_params after training"
    check(isinstance(bn_params, (list, tuple)) and len(bn_params) == len(running),
          f"{what} must be a list of {len(running)} dicts (see fc_net)", caused_by='fc_net')
    for i, (param, (mean, var)) in enumerate(zip(bn_params, running), 1):
        for key, want in (('running_mean', mean), ('running_var', var)):
            got = param.get(key) if isinstance(param, dict) else None
            why = (mismatch(got.to('cpu', F64), want, VALUE_TOL)
                   if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(want.shape)
                   else f"it is not a tensor of shape {tuple(want.shape)}")
            if why:
                cause = _running_cause(student)
                raise Failure(f"{what}: layer {i}'s {key} is not the running average of the "
                              f"batches it saw ({why}); see {cause}", caused_by=cause)


def _running_cause(student):
    """batchnorm_forward when the student's own BatchNorm.forward updates its
    running statistics wrongly, else fc_net (the net's bookkeeping)."""
    x = O.randn(6, 4, seed=7) * 3 + 10
    gamma, beta = torch.ones(4, dtype=F64), torch.zeros(4, dtype=F64)
    try:
        res = student.call('normalization.BatchNorm.forward', x, gamma, beta, {'mode': 'train'})
        param = res.args[3]
        mean, var = O.batch_stats(x)
        right = all(isinstance(param.get(k), torch.Tensor) and not mismatch(
            param[k].to(F64), O.running_update(torch.zeros(4, dtype=F64), v), VALUE_TOL)
            for k, v in (('running_mean', mean), ('running_var', var)))
    except Exception:  # noqa: BLE001 - a BatchNorm that fails here is the cause
        right = False
    return 'fc_net' if right else 'batchnorm_forward'
