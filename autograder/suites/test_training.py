"""Hidden training checks: the student's net, layers and update rules train on
the digits with the trusted Solver (a job in the student's process, on CUDA
when present, else the CPU; same thresholds everywhere). The accuracy is
computed here, by an oracle forward pass on the returned parameters over the
validation split loaded by the grader.
"""
import pytest
import torch

from autograder.suites import oracles as O
from autograder.suites.oracles import check, expect_tensor

TIME_LIMIT_S = 60


def validation_accuracy(student, spec, what):
    result = O.plain(student.job('train_fc_net', {**spec, 'time_limit_s': TIME_LIMIT_S}), what)
    params, bn_params = result['params'], result['bn_params']
    hidden = spec['hidden_dims']
    dims = [64, *hidden, 10]
    L = len(dims) - 1
    for i in range(1, L + 1):
        for key, shape in ((f'W{i}', (dims[i - 1], dims[i])), (f'b{i}', (dims[i],))):
            expect_tensor(params.get(key), f"{what}: params['{key}'] after training", shape=shape)
    params = {k: v.to(torch.float64) for k, v in params.items()}
    running = None
    if spec.get('normalization') == 'batchnorm':
        check(len(bn_params) == L - 1 and all(len(p) == 2 for p in bn_params),
              f"{what}: the net's bn_params lack running_mean/running_var after training")
        running = [(p['running_mean'].double(), p['running_var'].double()) for p in bn_params]
    data = O.digits(spec.get('data_seed', 0))
    scores = O.fc_net_scores(params, data['X_val'], L, spec.get('normalization'), running=running)
    return O.accuracy(scores, data['y_val'])


def check_accuracy(student, spec, threshold, what):
    acc = validation_accuracy(student, spec, what)
    check(acc >= threshold, f"{what}: validation accuracy {acc:.3f}, needs at least {threshold:.2f}")


@pytest.mark.item('train_two_layer')
def test_two_layer_net_trains_with_adam(student):
    spec = dict(hidden_dims=[100], weight_scale=1e-2, update_rule='adam', learning_rate=1e-3,
                num_epochs=10, seed=0)
    check_accuracy(student, spec, 0.95, "FullyConnectedNet([100]) trained with adam (lr 1e-3, "
                                        "10 epochs) on the digits")


@pytest.mark.item('train_two_layer')
def test_two_layer_net_trains_with_sgd_momentum(student):
    spec = dict(hidden_dims=[100], weight_scale=1e-2, update_rule='sgd_momentum',
                learning_rate=5e-2, num_epochs=10, seed=0)
    check_accuracy(student, spec, 0.95, "FullyConnectedNet([100]) trained with sgd_momentum "
                                        "(lr 5e-2, 10 epochs) on the digits")


@pytest.mark.item('train_deep_batchnorm')
def test_deep_batchnorm_net_trains(student):
    spec = dict(hidden_dims=[100] * 5, weight_scale=1e-2, normalization='batchnorm',
                update_rule='sgd_momentum', learning_rate=1e-2, num_epochs=10, seed=0)
    check_accuracy(student, spec, 0.90, "FullyConnectedNet([100] * 5, normalization='batchnorm', "
                                        "weight_scale=1e-2) trained with sgd_momentum (lr 1e-2, "
                                        "10 epochs) on the digits")
