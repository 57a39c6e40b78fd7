"""Shared test setup: the reference package is importable as `scratchnn`."""
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / 'solutions' / 'nn_from_scratch'
RELEASE = REPO / 'assignments' / 'nn_from_scratch'

if str(SOLUTIONS) not in sys.path:
    sys.path.insert(0, str(SOLUTIONS))


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
