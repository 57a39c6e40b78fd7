"""scratchnn.solver.Solver: histories, lr_decay, best-params checkpointing,
quiet output, device selection."""
import sys
import types

import pytest
import torch

from autograder.suites import oracles
from scratchnn import FullyConnectedNet, Solver
from scratchnn.device import get_device


def toy_data(N=40, seed=0):
    """Two separable blobs in 4-D."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(N) % 2
    X = torch.randn(N, 4, generator=g) + 3 * y[:, None].float()
    return {'X_train': X, 'y_train': y, 'X_val': X[:20].clone(), 'y_val': y[:20].clone()}


def small_solver(device='cpu', **kwargs):
    net = FullyConnectedNet([8], input_dim=4, num_classes=2, weight_scale=0.1, seed=0)
    kwargs = {'update_rule': 'sgd', 'optim_config': {'learning_rate': 0.1}, 'batch_size': 10,
              'num_epochs': 3, 'progress': False, 'seed': 0, 'device': device, **kwargs}
    return Solver(net, toy_data(), **kwargs)


class HillModel:
    """A one-parameter model whose validation accuracy rises, then falls.

    Every example of class 1 has a feature x in [0, 1); the model predicts
    class 1 when x < t, so its accuracy is the fraction of x below t. Its
    gradient is -1 for the first `rise` steps and +1 after, so plain SGD moves
    t up, then down: the best epoch is in the middle.
    """

    def __init__(self, rise):
        self.params = {'t': torch.tensor(0.0, dtype=torch.float64)}
        self.rise, self.steps = rise, 0

    def loss(self, X, y=None):
        x = X[:, 0].to(torch.float64)
        t = self.params['t']
        scores = torch.stack([x - t, t - x], dim=1)
        if y is None:
            return scores
        self.steps += 1
        sign = -1.0 if self.steps <= self.rise else 1.0
        return torch.tensor(0.0), {'t': torch.tensor(sign, dtype=torch.float64)}


def hill_data(N=100):
    x = (torch.arange(N, dtype=torch.float64) + 0.5) / N
    return {'X_train': x[:, None], 'y_train': torch.ones(N, dtype=torch.int64),
            'X_val': x[:, None], 'y_val': torch.ones(N, dtype=torch.int64)}


def test_histories_have_one_entry_per_iteration_and_epoch():
    solver = small_solver(num_epochs=4).train()
    assert len(solver.loss_history) == 4 * (40 // 10)
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 4
    assert all(0.0 <= a <= 1.0 for a in solver.train_acc_history + solver.val_acc_history)
    assert solver.loss_history[-1] < solver.loss_history[0]
    assert solver.epoch == 4


@pytest.mark.parametrize('decay', [1.0, 0.5, 0.9])
def test_lr_decay_once_per_epoch(decay):
    solver = small_solver(lr_decay=decay, num_epochs=3).train()
    for config in solver.optim_configs.values():
        assert config['learning_rate'] == pytest.approx(0.1 * decay ** 3, rel=1e-12)


def test_optim_config_is_copied_per_parameter():
    config = {'learning_rate': 0.1}
    solver = small_solver(update_rule='sgd_momentum', optim_config=config).train()
    assert config == {'learning_rate': 0.1}  # the caller's dict is untouched
    velocities = [c['velocity'] for c in solver.optim_configs.values()]
    assert len({id(v) for v in velocities}) == len(velocities)
    assert {tuple(v.shape) for v in velocities} == {tuple(p.shape) for p in solver.model.params.values()}


def test_restores_best_params_and_writes_checkpoint(tmp_path):
    # 10 iterations per epoch, lr 0.05: t rises by 0.5 per epoch for 2 epochs, then falls.
    model = HillModel(rise=20)
    name = tmp_path / 'best'
    solver = Solver(model, hill_data(), update_rule='sgd', optim_config={'learning_rate': 0.05},
                    batch_size=10, num_epochs=4, num_train_samples=None, checkpoint_name=str(name),
                    progress=False, device='cpu', seed=0).train()
    assert solver.val_acc_history == pytest.approx([0.5, 1.0, 0.5, 0.0])
    assert solver.best_val_acc == 1.0
    assert model.params['t'].item() == pytest.approx(1.0)  # epoch 2's t, not the last (0.0)
    checkpoint = torch.load(f'{name}.pt')
    assert checkpoint['epoch'] == 2 and checkpoint['val_acc'] == 1.0
    assert checkpoint['params']['t'].item() == pytest.approx(1.0)


def test_no_checkpoint_file_without_a_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small_solver().train()
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_holds_running_statistics(tmp_path):
    net = FullyConnectedNet([8], input_dim=4, num_classes=2, normalization='batchnorm', seed=0)
    Solver(net, toy_data(), optim_config={'learning_rate': 0.1}, batch_size=10, num_epochs=2,
                    checkpoint_name=str(tmp_path / 'bn'), progress=False, device='cpu', seed=0).train()
    saved = torch.load(tmp_path / 'bn.pt')
    running_mean = saved['state']['bn_params'][0]['running_mean']
    assert running_mean.shape == (8,) and running_mean.abs().sum() > 0
    assert torch.equal(net.bn_params[0]['running_mean'], running_mean)


@pytest.mark.parametrize('progress', [False, True])
def test_nothing_goes_to_stderr(capfd, progress):
    """A grade cell that writes to stderr gets 0: the bar goes to stdout, and
    progress=False prints nothing at all."""
    small_solver(progress=progress).train()
    out, err = capfd.readouterr()
    assert err == ''
    assert (out != '') == progress


def test_print_every_prints_the_loss(capfd):
    small_solver(print_every=4, num_epochs=2).train()
    out, err = capfd.readouterr()
    assert err == ''
    assert out.count('loss:') == 2 and '(Iteration 1) loss:' in out


def test_seed_makes_training_repeatable():
    a, b = small_solver(seed=3).train(), small_solver(seed=3).train()
    c = small_solver(seed=4).train()
    assert a.loss_history == b.loss_history
    assert a.loss_history != c.loss_history


def test_device_defaults_to_get_device():
    solver = small_solver(device=None)
    assert solver.device == get_device()
    assert all(p.device == solver.device for p in solver.model.params.values())
    assert solver.X_train.device == solver.device


@pytest.mark.parametrize('device', oracles.DEVICES)
def test_named_device_moves_model_and_data(device):
    net = FullyConnectedNet([8], input_dim=4, num_classes=2, normalization='batchnorm', seed=0)
    net.bn_params[0]['running_mean'] = torch.zeros(8)
    solver = Solver(net, toy_data(), num_epochs=1, progress=False, device=device).train()
    assert all(p.device.type == device for p in net.params.values())
    assert net.bn_params[0]['running_mean'].device.type == device
    assert solver.X_val.device.type == device and solver.y_val.device.type == device


def test_cuda_without_cuda_raises(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(RuntimeError, match='CUDA is not available'):
        small_solver(device='cuda')


@pytest.mark.parametrize('rule', ['adamm', 'torch', '_adam_step', '_with_defaults'])
def test_unknown_update_rule_raises(rule):
    with pytest.raises(ValueError, match=f"unknown update_rule '{rule}'"):
        small_solver(update_rule=rule)


def test_missing_data_raises():
    data = toy_data()
    del data['y_val']
    with pytest.raises(KeyError, match='y_val'):
        Solver(FullyConnectedNet([3], input_dim=4), data, progress=False, device='cpu')


def test_update_rule_may_be_a_function():
    seen = []

    def rule(w, dw, config=None):
        seen.append(w.shape)
        return w - 0.1 * dw, config
    small_solver(update_rule=rule, num_epochs=1).train()
    assert len(seen) == 4 * 4  # 4 iterations x 4 params


def test_num_iterations_trains_exactly_that_many_steps():
    """Equal steps for every batch size: 40 examples, batch 10, 7 updates is one
    epoch and a bit; the accuracies are also checked after the last update."""
    solver = small_solver(num_iterations=7).train()
    assert len(solver.loss_history) == 7
    assert len(solver.val_acc_history) == 2 and solver.epoch == 2
    solver = small_solver(num_iterations=3, batch_size=2).train()   # less than one epoch
    assert len(solver.loss_history) == 3 and len(solver.val_acc_history) == 1
    with pytest.raises(ValueError, match='num_iterations'):
        small_solver(num_iterations=0)


class FakeShell:
    def __init__(self, allow_stdin):
        self.kernel = type('Kernel', (), {'_allow_stdin': allow_stdin})()


@pytest.mark.parametrize('allow_stdin', [True, False])
def test_progress_shows_where_a_person_watches(monkeypatch, allow_stdin):
    """In a Jupyter kernel: a frontend lets the kernel ask for input; nbclient,
    nbconvert and nbgrader do not, and get no progress bar."""
    from scratchnn import solver
    ipython = types.ModuleType('IPython')
    ipython.get_ipython = lambda: FakeShell(allow_stdin)
    monkeypatch.setitem(sys.modules, 'IPython', ipython)
    monkeypatch.delitem(sys.modules, 'google.colab', raising=False)
    assert solver.interactive() is allow_stdin
    monkeypatch.setitem(sys.modules, 'google.colab', types.ModuleType('google.colab'))
    assert solver.interactive() is True


def test_no_progress_bar_by_default_when_output_is_not_a_terminal(capfd, monkeypatch):
    monkeypatch.delitem(sys.modules, 'IPython', raising=False)
    small_solver(progress=None).train()
    out, err = capfd.readouterr()
    assert out == '' and err == ''


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: data on another device than the model")
def test_check_accuracy_takes_data_left_on_the_cpu():
    """On a GPU the notebooks check a test set that load_digits left on the CPU."""
    solver = small_solver(device='cuda')
    X, y = solver.X_val.cpu(), solver.y_val.cpu()
    assert solver.check_accuracy(X, y) == solver.check_accuracy(solver.X_val, solver.y_val)
