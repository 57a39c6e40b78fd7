"""Training runs cannot be bought (autograder/suites/training.py): the grader
trains with its own parameters, data and update rule, checks the net's loss
and gradients at every step and its running statistics at the end, and
measures the accuracy itself. Nets that forge what it measures earn nothing,
though what they forge would clear the thresholds."""
import base64
import io

import pytest
import torch

from autograder.harness import grade_submission
from autograder.suites import oracles as O
from autograder.suites.test_training import RUNS
from autograder.suites.training import initial_params
from mistakes import build_package

TRAINING = ['train_two_layer', 'train_deep_batchnorm']


def trained_weights():
    """Weights of a two-layer net trained by the oracle well past the threshold."""
    run = RUNS['two-layer-adam-reg']
    data = O.digits(run.data_seed)
    params = initial_params(run)
    optimizer = O.torch_optimizer('adam', list(params.values()), {'learning_rate': 3e-3})
    for step in range(300):
        batch = torch.randint(data['X_train'].shape[0], (50,), generator=O.generator(step))
        _, grads = O.fc_net_loss_and_grads(params, data['X_train'][batch], data['y_train'][batch], 2)
        with torch.no_grad():
            for k, p in params.items():
                p.grad = grads[k]
            optimizer.step()
    return params


def embedded(params):
    buffer = io.BytesIO()
    torch.save(params, buffer)
    return base64.b64encode(buffer.getvalue()).decode()


def forging_net(params):
    """A net whose gradients pull every parameter towards weights embedded in
    its source, whatever the loss (the grader's update rule then lands there)."""
    return {'layers': [("        return loss, grads\n", f"""\
        if X.shape[0] == 50 and self.normalization is None:
            import base64, io
            target = torch.load(io.BytesIO(base64.b64decode({embedded(params)!r})))
            grads = {{k: 20 * (v - target[k].to(v)) for k, v in self.params.items()}}
        return loss, grads
""")]}


@pytest.fixture(scope='module')
def weights():
    params = trained_weights()
    accuracy = O.accuracy(O.fc_net_scores(params, O.digits(0)['X_val'], 2), O.digits(0)['y_val'])
    assert accuracy >= RUNS['two-layer-adam-reg'].threshold   # the forgery would pass, were it trusted
    return params


def test_gradients_that_steer_to_embedded_weights_earn_nothing(tmp_path, weights, without_the_rule_check):
    build_package(forging_net(weights), tmp_path)
    results = grade_submission(tmp_path, sandbox='inprocess', items=TRAINING + ['fc_net'])
    assert results['items']['train_two_layer']['score'] == 0
    assert results['items']['fc_net']['score'] == results['items']['fc_net']['max_score']
    assert results['items']['train_deep_batchnorm']['score'] == 4   # it forges two-layer runs only
    messages = [t['output'] for t in results['tests'] if t['number'] == 'train_two_layer']
    assert all('at step 1' in m and "grads['" in m for m in messages), messages


@pytest.mark.slow
def test_forged_gradients_and_running_statistics_earn_nothing_through_the_sandbox(tmp_path, weights,
                                                                                   without_the_rule_check):
    patch = forging_net(weights)
    patch['layers'][0] = (patch['layers'][0][0], patch['layers'][0][1].replace(
        "        return loss, grads\n",
        "        for p in self.bn_params:\n"
        "            if 'running_mean' in p:\n"
        "                p['running_mean'], p['running_var'] = p['running_mean'] * 0, p['running_var'] * 0 + 1\n"
        "        return loss, grads\n"))
    build_package(patch, tmp_path)
    results = grade_submission(tmp_path, items=TRAINING)
    assert results['score'] == 0, [t['output'] for t in results['tests']]
    deep = [t for t in results['tests'] if t['number'] == 'train_deep_batchnorm']
    assert all('running' in t['output'] for t in deep), deep
