"""Hidden training checks: the student's net trains on the digits, driven by
the grader (training.py): trusted data, parameters and update rule, the
net's loss and gradients checked against the oracle at every step, BatchNorm's
running statistics tracked here and checked, the accuracy measured here. The
net runs on CUDA when present, else the CPU; the thresholds are the same.
"""
import pytest

from autograder.rubric import Graded
from autograder.suites.checks import check
from autograder.suites.training import Run, train

# Sized to their purpose: the fewest steps after which the reference clears the
# thresholds by 2 points or more over several seeds (a wrong net fails at its
# first step, where its loss and gradients are checked).
# Training runs grade no function of their own (their nets' mistakes are the
# layers' items) and get more time than an item's default.
ITEMS = {'train_two_layer': Graded((), time_budget=120),
         'train_deep_batchnorm': Graded((), time_budget=120)}
RUNS = {
    'two-layer-adam-reg': Run((100,), 'adam', 3e-3, steps=80, threshold=0.95, reg=1e-3),
    'deep-batchnorm': Run((100,) * 5, 'sgd_momentum', 1e-2, steps=80, threshold=0.90,
                          normalization='batchnorm'),
}


def check_run(student, device, name):
    run = RUNS[name]
    accuracy = train(student, run, device)
    check(accuracy >= run.threshold, f"{run.describe()}: validation accuracy {accuracy:.3f}, "
                                     f"needs at least {run.threshold:.2f}")


@pytest.mark.item('train_two_layer', points=4)
def test_two_layer_net_trains(student, device):
    check_run(student, device, 'two-layer-adam-reg')


@pytest.mark.item('train_deep_batchnorm', points=4)
def test_deep_batchnorm_net_trains(student, device):
    check_run(student, device, 'deep-batchnorm')
