"""Shared test setup: the reference package is importable as `scratchnn`."""
import os
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / 'solutions' / 'nn_from_scratch'
RELEASE = REPO / 'assignments' / 'nn_from_scratch'

# Under `pytest -n N` (make test) N test processes share the cores: torch's
# thread pools (here and in every kernel, grader and worker the tests start)
# would fight over them. Set before torch is imported.
if os.environ.get('PYTEST_XDIST_WORKER'):
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    os.environ.setdefault('MKL_NUM_THREADS', '1')

# The grader's disk cache (the digits splits) in a folder of this run, not
# the user's home; graders the tests start inherit it.
os.environ.setdefault('SCRATCHNN_GRADER_CACHE', tempfile.mkdtemp(prefix='grader-cache-'))

if str(SOLUTIONS) not in sys.path:
    sys.path.insert(0, str(SOLUTIONS))

# The files whose tests take minutes (whole nbgrader courses, classes graded on
# Dask, hostile submissions through the sandbox), longest first. `make test`
# hands whole files to its processes in collection order: started last, one
# of them would run alone at the end while the other process idles.
LONGEST_FILES = ('test_hostile.py', 'test_pipeline.py', 'test_readme_instructor.py',
                 'test_grade_all.py', 'test_notebooks.py', 'test_catalogue.py')


def pytest_collection_modifyitems(items):
    """The longest files first (a stable sort: every process sees one order)."""
    def rank(item):
        name = item.path.name
        return LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)
    items.sort(key=rank)


@pytest.fixture(scope='session')
def demo_course(tmp_path_factory):
    """The instructor pipeline (`make demo`) run once, into a fresh course
    folder, on the sample students of coursekit.samples: (folder, results)."""
    from coursekit import demo
    folder = tmp_path_factory.mktemp('demo') / 'course'
    return folder, demo.run(folder)


@pytest.fixture(scope='session')
def published(tmp_path_factory):
    """The student repository (`python -m coursekit publish`), published once
    into a fresh folder: its path."""
    from coursekit import publish
    dest, commit = publish.publish(tmp_path_factory.mktemp('published') / 'student')
    assert commit is not None
    return dest


@pytest.fixture
def without_the_rule_check(monkeypatch):
    """Grade as if every module passed the rule check (autograder/rules.py), as
    an attack the check misses would: what is left to stop it is the sandbox
    and the grader's own checks (in this process: grade_submission's)."""
    from autograder import rules
    monkeypatch.setattr(rules, 'check_submission', lambda submission, rubric: {})
