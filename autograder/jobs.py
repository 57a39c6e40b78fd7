"""Trusted jobs that run inside the student's process (see Student.job).

A job drives the student's code with trusted code (the Solver and the data
loader of the package being graded, which the harness assembles from the
TRUSTED given modules) and returns plain data. It never returns a verdict:
the grader computes accuracies itself, with its own oracle, on the returned
parameters.
"""
import importlib
import time

import torch


def _module(executor, name):
    return importlib.import_module(f'{executor.package_name}.{name}')


def _timed(rule, time_limit_s):
    """The student's update rule, stopping the run once time_limit_s is spent."""
    start = time.monotonic()

    def update(w, dw, config):
        if time.monotonic() - start > time_limit_s:
            raise TimeoutError(f"training took longer than {time_limit_s:g} s")
        return rule(w, dw, config)

    return update


def train_fc_net(executor, spec):
    """Train the student's FullyConnectedNet on the digits with the trusted Solver.

    spec keys:
    - hidden_dims (list), weight_scale, normalization (None/'batchnorm'), reg
    - update_rule (name in the student's optim), learning_rate
    - num_epochs, batch_size, seed, data_seed
    - time_limit_s: the run stops (TimeoutError) once this is spent

    Returns {'params': {name: CPU tensor}, 'bn_params': [{'running_mean',
    'running_var'}] or [], 'device': the device trained on}. CUDA is used when
    present, else the CPU.
    """
    layers, optim = _module(executor, 'layers'), _module(executor, 'optim')
    solver_mod, data_mod = _module(executor, 'solver'), _module(executor, 'data')
    device = _module(executor, 'device').get_device(None)
    data = data_mod.load_digits(seed=spec.get('data_seed', 0))
    seed = spec.get('seed', 0)
    torch.manual_seed(seed)
    net = layers.FullyConnectedNet(
        spec['hidden_dims'], input_dim=64, num_classes=10, normalization=spec.get('normalization'),
        reg=spec.get('reg', 0.0), weight_scale=spec.get('weight_scale', 1e-2), seed=seed,
        device=device)
    rule = getattr(optim, spec['update_rule'])
    solver = solver_mod.Solver(
        net, data, update_rule=_timed(rule, spec.get('time_limit_s', 60)),
        optim_config={'learning_rate': spec['learning_rate']}, num_epochs=spec['num_epochs'],
        batch_size=spec.get('batch_size', 50), num_train_samples=200, progress=False,
        device=device, seed=seed)
    solver.train()
    params = {k: v.detach().to('cpu') for k, v in dict(net.params).items()
              if isinstance(v, torch.Tensor)}
    bn_params = [{k: p[k].detach().to('cpu') for k in ('running_mean', 'running_var')
                  if isinstance(p.get(k), torch.Tensor)}
                 for p in getattr(net, 'bn_params', []) if isinstance(p, dict)]
    return {'params': params, 'bn_params': bn_params, 'device': str(device)}
