"""docs/adding-an-item.md, followed: a throw-away graded function (Sigmoid)
goes from solution to stub to hidden test to rubric to grade to feedback,
in copies of the course's files, exactly as the page says."""
import re
import shutil
from pathlib import Path

import pytest

from autograder import report
from autograder.blocks import stub_source
from autograder.course import COURSE
from autograder.harness import grade_submission

pytestmark = pytest.mark.slow

PAGE = COURSE.root / 'docs' / 'adding-an-item.md'


def snippet(name):
    """The code block of the page that follows the line `<!-- name -->`."""
    text = PAGE.read_text()
    found = re.search(rf'<!-- {name} -->\n```[a-z]*\n(.*?)```', text, re.S)
    assert found, f"docs/adding-an-item.md has no block marked <!-- {name} -->"
    return found.group(1)


@pytest.fixture(scope='module')
def course(tmp_path_factory):
    """Copies of the solution package, the suites and the rubric, with Sigmoid added."""
    root = tmp_path_factory.mktemp('course')
    submission = root / 'submission'
    shutil.copytree(COURSE.solution_package, submission / 'scratchnn',
                    ignore=shutil.ignore_patterns('__pycache__'))
    layers = submission / 'scratchnn' / 'layers.py'
    layers.write_text(layers.read_text() + '\n\n' + snippet('solution'))
    suites = root / 'suites'
    shutil.copytree(COURSE.root / 'autograder' / 'suites', suites,
                    ignore=shutil.ignore_patterns('__pycache__'))
    (suites / 'test_sigmoid.py').write_text(snippet('hidden-test'))
    rubric = root / 'rubric.toml'
    rubric.write_text((COURSE.root / 'autograder' / 'rubric.toml').read_text() + '\n' + snippet('rubric'))
    return submission, suites, rubric


def grade(course, layers_edit=None):
    submission, suites, rubric = course
    if layers_edit:
        layers = submission / 'scratchnn' / 'layers.py'
        original = layers.read_text()
        assert layers_edit[0] in original, "the page's solution changed: update this test"
        layers.write_text(original.replace(*layers_edit))
    try:
        return grade_submission(submission, suites=suites, rubric=rubric,
                                suite_files=['test_sigmoid.py'])
    finally:
        if layers_edit:
            layers.write_text(original)


def test_the_release_stubs_the_new_function():
    stub = stub_source(snippet('solution'), 'scratchnn/layers.py')
    assert 'Implement Sigmoid.forward in scratchnn/layers.py' in stub
    assert 'Implement Sigmoid.backward in scratchnn/layers.py' in stub
    assert 'torch.exp' not in stub and '(1 - out)' not in stub, "a solution body reached the stub"


def test_the_new_items_are_graded_and_shown_in_the_feedback(course):
    results = grade(course)
    assert results['items'] == {'sigmoid_forward': {'score': 2, 'max_score': 2},
                                'sigmoid_backward': {'score': 2, 'max_score': 2}}
    page = report.render(results, 'ada')
    assert 'sigmoid_forward' in page and 'sigmoid_backward' in page


def test_a_mistake_in_the_new_backward_costs_only_its_item(course):
    results = grade(course, ('dx = dout * out * (1 - out)', 'dx = dout * (1 - out)'))
    assert results['items']['sigmoid_forward']['score'] == 2
    assert results['items']['sigmoid_backward']['score'] == 0


def test_a_stub_scores_zero(course):
    results = grade(course, ('out = 1 / (1 + torch.exp(-x))',
                             'raise NotImplementedError("Implement Sigmoid.forward")'))
    assert results['items']['sigmoid_forward']['score'] == 0
