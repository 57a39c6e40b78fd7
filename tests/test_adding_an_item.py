"""docs/adding-an-item.md, followed: a throw-away graded function (Sigmoid)
goes from solution to stub to hidden test to graded cell to generated rubric
to grade to feedback, in copies of the course's files, exactly as the page
says, with three files edited by hand."""
import json
import re
import shutil

import nbformat
import pytest

from autograder import report
from autograder.blocks import stub_source
from autograder.course import COURSE
from autograder.harness import grade_submission
from autograder.rubric import build_rubric, load_rubric, to_toml

pytestmark = pytest.mark.slow

PAGE = COURSE.root / 'docs' / 'adding-an-item.md'


def snippet(name):
    """The code block of the page that follows the line `<!-- name -->`."""
    text = PAGE.read_text()
    found = re.search(rf'<!-- {name} -->\n```[a-z]*\n(.*?)```', text, re.S)
    assert found, f"docs/adding-an-item.md has no block marked <!-- {name} -->"
    return found.group(1)


NOTEBOOK = '01_layers_and_gradient_checking.ipynb'


def files_of(folder):
    """{relative path: bytes} of the files below folder."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def course(tmp_path_factory):
    """Copies of the solution package, the solution notebooks and the suites,
    edited by hand where the page says (three files), then the rubric generated
    from them as `python -m autograder rubric` does."""
    root = tmp_path_factory.mktemp('course')
    notebooks, suites = root / 'solutions', root / 'suites'
    shutil.copytree(COURSE.solutions, notebooks, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints'))
    shutil.copytree(COURSE.root / 'autograder' / 'suites', suites,
                    ignore=shutil.ignore_patterns('__pycache__'))
    before = files_of(root)
    # 1. the solution
    layers = notebooks / 'scratchnn' / 'layers.py'
    layers.write_text(layers.read_text() + '\n\n' + snippet('solution'))
    # 2. the hidden tests
    (suites / 'test_sigmoid.py').write_text(snippet('hidden-test'))
    # 3. the graded cells
    notebook = nbformat.read(notebooks / NOTEBOOK, as_version=4)
    notebook.cells += [nbformat.from_dict(cell) for cell in json.loads(snippet('graded-cells'))]
    nbformat.write(notebook, notebooks / NOTEBOOK)

    after = files_of(root)
    edited = sorted(name for name in after if before.get(name) != after[name])
    rubric = root / 'rubric.toml'
    rubric.write_text(to_toml(build_rubric(suites, notebooks)))
    return notebooks, suites, rubric, edited


def test_adding_the_item_takes_three_files_by_hand(course):
    *_, edited = course
    assert edited == ['solutions/01_layers_and_gradient_checking.ipynb',
                      'solutions/scratchnn/layers.py', 'suites/test_sigmoid.py']


def test_the_generated_rubric_has_the_new_items(course):
    _, _, rubric, _ = course
    items = load_rubric(rubric)
    assert (items['sigmoid_forward'].notebook, items['sigmoid_forward'].functions,
            items['sigmoid_forward'].points) == (NOTEBOOK, ('layers.Sigmoid.forward',), 2)
    assert items['sigmoid_backward'].functions == ('layers.Sigmoid.backward',)
    assert items.total == load_rubric().total + 4


def grade(course, layers_edit=None):
    submission, suites, rubric, _ = course
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
