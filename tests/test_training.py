"""End to end: the reference package trains on the digits with the Solver.

Same thresholds on every device (CPU, and CUDA when present); seconds on a CPU.
"""
import pytest
import torch

from autograder.suites import oracles
from scratchnn import FullyConnectedNet, Solver
from scratchnn.data import load_digits


@pytest.fixture(scope='module')
def digits():
    return load_digits(seed=0)


def train(data, device, hidden, update_rule, learning_rate, num_epochs, batch_size=50, seed=0,
          **net_kwargs):
    torch.manual_seed(seed)
    net = FullyConnectedNet(hidden, input_dim=64, num_classes=10, seed=seed, device=device, **net_kwargs)
    solver = Solver(net, data, update_rule=update_rule, optim_config={'learning_rate': learning_rate},
                    num_epochs=num_epochs, batch_size=batch_size, num_train_samples=None,
                    progress=False, device=device, seed=seed)
    return solver.train()


@pytest.mark.parametrize('seed', [0, 1])
@pytest.mark.parametrize('device', oracles.DEVICES)
def test_two_layer_net_reaches_95_percent(digits, device, seed):
    solver = train(digits, device, [100], 'adam', 1e-3, num_epochs=10, seed=seed, weight_scale=1e-2)
    assert solver.best_val_acc >= 0.95
    # The restored best params really score that on the validation set.
    assert solver.check_accuracy(solver.X_val, solver.y_val) == solver.best_val_acc


@pytest.mark.parametrize('device', oracles.DEVICES)
def test_deep_net_trains_with_batchnorm_and_not_without(digits, device):
    """Five hidden layers with weight_scale 1e-2: the signal vanishes without
    BatchNorm (chance level), and BatchNorm rescues it."""
    common = dict(hidden=[100] * 5, update_rule='sgd_momentum', learning_rate=1e-2, num_epochs=10,
                  weight_scale=1e-2)
    with_bn = train(digits, device, normalization='batchnorm', **common)
    without = train(digits, device, normalization=None, **common)
    assert with_bn.best_val_acc >= 0.90
    assert without.best_val_acc < 0.20
    # The best epoch's params and running statistics were restored together.
    assert with_bn.check_accuracy(with_bn.X_val, with_bn.y_val) == with_bn.best_val_acc


@pytest.mark.parametrize('device', oracles.DEVICES)
def test_overfits_50_examples(digits, device):
    small = {k: v[:50] for k, v in digits.items()}
    solver = train(small, device, [100, 100], 'adam', 5e-3, num_epochs=50, batch_size=25,
                   weight_scale=5e-2)
    # The last epoch's params fit every example (the Solver then restores the
    # params of the best validation epoch, which need not).
    assert solver.train_acc_history[-1] == 1.0


@pytest.mark.parametrize('device', oracles.DEVICES)
def test_layernorm_and_dropout_nets_train(digits, device):
    solver = train(digits, device, [100, 100], 'adam', 1e-3, num_epochs=10, weight_scale='kaiming',
                   normalization='layernorm', dropout=0.2)
    assert solver.best_val_acc >= 0.93
