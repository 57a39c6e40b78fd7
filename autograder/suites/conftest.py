"""Fixture plumbing for the hidden suites: the `student` and `device` fixtures.

Under the grader (harness.grade_submission), `student` is the
SandboxedStudent of the submission being graded and `device` the device it
is graded on; the harness registers itself in config.stash[HARNESS_KEY].

Run by hand while developing suites (never a real grade):

    pytest autograder/suites --submission DIR        # sandboxed, DIR holds scratchnn/
    pytest autograder/suites --student-package PKG   # in-process LocalStudent, PKG is scratchnn/

($SCRATCHNN_STUDENT_PACKAGE stands in for --student-package.)
"""
import os

import pytest

from autograder.harness import HARNESS_KEY
from autograder.isolation.executor import LocalStudent
from autograder.suites import checks


def pytest_addoption(parser):
    parser.addoption('--submission', default=None,
                     help="assignment folder (holding scratchnn/) to run in the sandbox")
    parser.addoption('--student-package', default=None,
                     help="scratchnn package folder to run in-process (suite development only)")
    parser.addoption('--device', default=None, help="device to test on (default: cuda if present)")


def pytest_configure(config):
    # Every hidden test names the rubric item it scores and its points:
    # @pytest.mark.item('<item_id>', points=P) (see autograder/rubric.py).
    config.addinivalue_line('markers', 'item(item_id, points): the rubric item this hidden test '
                                       'scores, and the points it earns')


def _harness(config):
    return config.stash.get(HARNESS_KEY, None)


@pytest.fixture(scope='session')
def device(request):
    """The device the submission is graded on ('cpu', 'cuda', ...)."""
    harness = _harness(request.config)
    if harness is not None:
        return harness.device
    from autograder.harness import default_device
    return request.config.getoption('--device') or default_device()


@pytest.fixture(scope='session')
def student(request, device):
    """The Student whose code the tests call (see autograder/isolation/student.py)."""
    harness = _harness(request.config)
    if harness is not None:
        return harness.student
    submission = request.config.getoption('--submission')
    if submission:
        from autograder.isolation.sandbox import SandboxedStudent
        sandboxed = SandboxedStudent(submission, device=device)
        request.addfinalizer(sandboxed.close)
        return sandboxed
    package_dir = (request.config.getoption('--student-package')
                   or os.environ.get('SCRATCHNN_STUDENT_PACKAGE'))
    if not package_dir:
        raise pytest.UsageError("pass --submission DIR or --student-package DIR "
                                "(or set SCRATCHNN_STUDENT_PACKAGE)")
    return LocalStudent(package_dir)


def pytest_collection_finish(session):
    """Warm up what the grader loads lazily, while the sandbox starts: the
    first test waits for the submission's sandbox to import torch (about 2 s)
    anyway, and otherwise these would load on the way of the tests that need
    them. torch imports torch._dynamo and sympy at the first operation on a
    meta tensor (torch.optim and autograd need them too); the training runs
    need the digits."""
    from autograder.isolation.child import load_torch_lazy_parts
    from autograder.suites import oracles
    load_torch_lazy_parts()
    if any(item.module.__name__.endswith('test_training') for item in session.items):
        oracles.digits()


def pytest_runtest_setup(item):
    checks.NOTES.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """A test that passed on the student's own code (checks.NOTES) says so, in
    its user_properties, where the harness finds it in the test's report."""
    try:
        return (yield)
    finally:
        if checks.NOTES:
            item.user_properties.append(('note', '\n'.join(checks.NOTES)))
