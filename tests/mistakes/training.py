"""Nets that forge what a training run measures: each earns nothing there.

The grader trains with its own parameters, data and update rule, checks the
loss and gradients at every step and the running statistics at the end, and
measures the accuracy itself (autograder/suites/training.py).
"""
from mistakes import Case

CASES = {
    'net_steers_training_with_forged_gradients': Case(
        # On a training batch, gradients that pull every weight towards fixed
        # "pre-trained" ones (here: zero biases and a scaled identity-like W).
        {'layers': [("        return loss, grads\n",
                     "        if X.shape[0] == 50:\n"
                     "            grads = {k: (v - 0.5 * torch.ones_like(v)) for k, v in self.params.items()}\n"
                     "        return loss, grads\n")]},
        loses=['train_two_layer', 'train_deep_batchnorm']),
    'net_fakes_its_running_statistics': Case(
        # After each training step, running statistics overwritten with made-up ones.
        {'layers': [("        return loss, grads\n",
                     "        for p in self.bn_params:\n"
                     "            if 'running_mean' in p:\n"
                     "                p['running_mean'] = torch.zeros_like(p['running_mean'])\n"
                     "                p['running_var'] = torch.ones_like(p['running_var'])\n"
                     "        return loss, grads\n")]},
        loses=['train_deep_batchnorm']),
}
