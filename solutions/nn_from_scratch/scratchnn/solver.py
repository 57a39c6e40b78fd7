"""Mini-batch training of a model with the update rules of scratchnn.optim.

A model is any object with
- model.params: dict of parameter name -> tensor
- model.loss(X, y): (loss, grads) with grads shaped like params
- model.loss(X): scores (N, C)

Example:

    data = load_digits()
    model = FullyConnectedNet([100], input_dim=64)
    solver = Solver(model, data, update_rule='adam',
                    optim_config={'learning_rate': 1e-3}, num_epochs=10)
    solver.train()
    solver.best_val_acc, solver.loss_history, solver.val_acc_history
"""
import copy
import sys
import warnings

import torch

from . import optim
from .device import get_device, to_device

# Model state that is not a parameter but shapes its predictions: the running
# statistics of normalization layers. It travels and is checkpointed with params.
STATE_ATTRS = ('bn_params',)


class Solver:

    def __init__(self, model, data, update_rule='sgd', optim_config=None, lr_decay=1.0,
                 batch_size=100, num_epochs=10, num_iterations=None, num_train_samples=1000,
                 num_val_samples=None, checkpoint_name=None, print_every=0,
                 progress=None, device=None, seed=None):
        """
        Inputs:
        - model: see the module docstring
        - data: dict with X_train, y_train, X_val, y_val
        - update_rule: name of a rule in scratchnn.optim, or a rule itself
        - optim_config: hyperparameters, copied into one config per parameter
        - lr_decay: learning_rate is multiplied by this after every epoch
        - batch_size, num_epochs: of the mini-batch loop; an epoch is
          N_train // batch_size updates
        - num_iterations: if given, train for exactly this many updates
          instead of num_epochs epochs (the accuracies are also checked after
          the last update), e.g. to compare batch sizes at equal steps
        - num_train_samples, num_val_samples: how many examples the
          accuracy checks after each epoch use (None: all)
        - checkpoint_name: if given, the best parameters are also saved to
          '<checkpoint_name>.pt' whenever the validation accuracy improves, as
          {'params', 'state' (running statistics), 'epoch', 'val_acc'}
        - print_every: print the loss every this many iterations (0: never)
        - progress: show a progress bar: None (default) where a person
          watches (see interactive()), True always, False never. In Jupyter
          it is one line that updates itself; it never goes to stderr
          (that would fail nbgrader cells)
        - device: None/'auto' (CUDA when present, else CPU) or a named device;
          the model's tensors and the data are moved there
        - seed: seeds the order of the mini-batches
        """
        missing = {'X_train', 'y_train', 'X_val', 'y_val'} - set(data)
        if missing:
            raise KeyError(f"data is missing {sorted(missing)}")
        if isinstance(update_rule, str):
            if update_rule.startswith('_') or not callable(getattr(optim, update_rule, None)):
                raise ValueError(f"unknown update_rule {update_rule!r}")
            update_rule = getattr(optim, update_rule)
        self.device = get_device(device)
        self.model = model
        model.params = to_device(model.params, self.device)
        for name in STATE_ATTRS:
            if hasattr(model, name):
                setattr(model, name, to_device(getattr(model, name), self.device))
        self.X_train, self.y_train = (data['X_train'].to(self.device), data['y_train'].to(self.device))
        self.X_val, self.y_val = data['X_val'].to(self.device), data['y_val'].to(self.device)
        self.update_rule = update_rule
        self.optim_config = dict(optim_config or {})
        self.lr_decay = lr_decay
        self.batch_size = batch_size
        self.num_epochs = num_epochs
        if num_iterations is not None and num_iterations < 1:
            raise ValueError(f"num_iterations must be at least 1, got {num_iterations}")
        self.num_iterations = num_iterations
        self.num_train_samples = num_train_samples
        self.num_val_samples = num_val_samples
        self.checkpoint_name = checkpoint_name
        self.print_every = print_every
        self.progress = progress
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None
        self._reset()

    def _reset(self):
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_params = {}
        self.best_state = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.optim_configs = {p: dict(self.optim_config) for p in self.model.params}

    def _step(self, batch):
        """One update of every parameter on the mini-batch of indices `batch`."""
        loss, grads = self.model.loss(self.X_train[batch], self.y_train[batch])
        self.loss_history.append(float(loss))
        for p, w in self.model.params.items():
            next_w, self.optim_configs[p] = self.update_rule(w, grads[p], self.optim_configs[p])
            self.model.params[p] = next_w

    @torch.no_grad()
    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of examples the model classifies correctly, in batches;
        on a random subset of num_samples examples when given. X and y may be
        on another device than the model (a test set left on the CPU): each
        batch moves to the solver's device."""
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            idx = torch.randperm(N, generator=self.generator)[:num_samples].to(X.device)
            X, y, N = X[idx], y[idx], num_samples
        correct = 0
        for start in range(0, N, batch_size):
            scores = self.model.loss(X[start:start + batch_size].to(self.device))
            labels = y[start:start + batch_size].to(self.device)
            correct += (scores.argmax(dim=1) == labels).sum().item()
        return correct / max(N, 1)

    def _end_of_epoch(self):
        self.epoch += 1
        for config in self.optim_configs.values():
            if 'learning_rate' in config:
                config['learning_rate'] *= self.lr_decay
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        if val_acc > self.best_val_acc or not self.best_params:
            self.best_val_acc = val_acc
            self.best_params = {k: v.clone() for k, v in self.model.params.items()}
            # Without the running statistics of that epoch the best params
            # would not reproduce best_val_acc in test mode.
            self.best_state = {name: copy.deepcopy(getattr(self.model, name))
                               for name in STATE_ATTRS if hasattr(self.model, name)}
            if self.checkpoint_name is not None:
                torch.save({'params': self.best_params, 'state': self.best_state,
                            'epoch': self.epoch, 'val_acc': val_acc},
                           f'{self.checkpoint_name}.pt')
        return train_acc, val_acc

    def train(self):
        """Run the optimization, then swap the best parameters (by validation
        accuracy), and the running statistics of that epoch, into the model."""
        N = self.X_train.shape[0]
        per_epoch = max(N // self.batch_size, 1)
        total = self.num_iterations or self.num_epochs * per_epoch
        bar = progress_bar(total, self.progress)
        for t in range(total):
            batch = torch.randint(N, (self.batch_size,), generator=self.generator).to(self.device)
            self._step(batch)
            bar.update(1)
            if self.print_every and t % self.print_every == 0:
                bar.write(f"(Iteration {t + 1}) loss: {self.loss_history[-1]:.4f}", file=sys.stdout)
            if (t + 1) % per_epoch == 0 or t + 1 == total:
                train_acc, val_acc = self._end_of_epoch()
                bar.set_postfix(epoch=self.epoch, loss=f"{self.loss_history[-1]:.3f}",
                                train=f"{train_acc:.3f}", val=f"{val_acc:.3f}")
        bar.close()
        if self.best_params:
            self.model.params = copy.copy(self.best_params)
            for name, value in self.best_state.items():
                setattr(self.model, name, copy.deepcopy(value))
        return self


def interactive():
    """Whether a person watches this process's output as it comes.

    True in a Jupyter frontend (JupyterLab, Notebook, Colab, VS Code: they
    let the kernel ask for input) and in a terminal. False where notebooks run
    headless, as nbclient, nbconvert --execute and nbgrader do (they refuse
    input requests), and where stdout is a pipe or a file: there a progress
    bar would only leave hundreds of lines in the saved output.
    """
    shell = sys.modules['IPython'].get_ipython() if 'IPython' in sys.modules else None
    kernel = getattr(shell, 'kernel', None)
    if kernel is not None:
        return 'google.colab' in sys.modules or bool(getattr(kernel, '_allow_stdin', False))
    return sys.stdout.isatty()


def progress_bar(total, show=None):
    """A tqdm bar over `total` steps, on stdout: a one-line widget in Jupyter
    (tqdm.auto), a text line in a terminal. show: None means interactive()."""
    if show is None:
        show = interactive()
    if not show:
        from tqdm.std import tqdm
        return tqdm(total=total, disable=True)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')   # tqdm.auto's "experimental" notice goes to stderr
        from tqdm.auto import tqdm
    return tqdm(total=total, file=sys.stdout, desc='train', leave=True)
