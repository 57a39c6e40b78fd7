"""The rubric: generated from the suites' item marks and the solution
notebooks' graded cells (autograder/rubric.py), committed, and read by one
loader. What matters of it: the committed file is the one the suites define,
each graded cell is worth its item's points, every solution block is graded,
and a rubric or a suite that disagrees stops grading with a clear error."""
import json
from fractions import Fraction

import pytest

from autograder import rubric as R
from autograder.harness import GradingError, check_marks
from conftest import SOLUTIONS
from autograder.blocks import student_functions

BUILT = R.build_rubric()


def test_the_committed_rubric_is_the_one_the_suites_define():
    assert R.RUBRIC.read_text() == R.to_toml(BUILT), \
        f"autograder/rubric.toml is stale: run `{R.REGENERATE}` and commit it"
    assert R.load_rubric() == BUILT


def test_each_graded_cell_is_worth_its_items_points():
    cells = R.graded_cells()
    assert [item_id for item_id, _, _ in cells] == list(BUILT)
    for item_id, notebook, points in cells:
        assert (notebook, points) == (BUILT[item_id].notebook, BUILT[item_id].points), item_id


def test_the_items_grade_every_solution_block_once():
    graded = [f for item in BUILT.values() for f in item.functions]
    written = {f'{mod}.{q}' for mod, qs in student_functions(SOLUTIONS / 'scratchnn').items()
               for q in qs}
    assert sorted(graded) == sorted(written)


def test_the_training_items_have_their_time_budget():
    assert {i: item.time_budget for i, item in BUILT.items() if item.time_budget} == {
        'train_two_layer': 120, 'train_deep_batchnorm': 120}


# ---------------------------------------------------------------- a throw-away course

SUITE = '''
import pytest
from autograder.rubric import Graded

ITEMS = {'a': Graded(('m.f', 'm.C.g')), 'b': Graded((), time_budget=60)}


@pytest.mark.item('a', points=2.5)
def test_x():
    pass


@pytest.mark.parametrize('k', [pytest.param(k, marks=pytest.mark.item('a', points=0.5))
                               for k in (1, 2, 3)])
def test_y(k):
    pass


@pytest.mark.item('b', points=1)
def test_z():
    pass
'''


def notebook(path, cells):
    """Autograded cells [(grade_id, points)], then a written question worth 2."""
    path.write_text(json.dumps({'cells': [
        {'cell_type': 'code', 'metadata': {'nbgrader': {'grade': True, 'solution': False,
                                                        'grade_id': i, 'points': p}}}
        for i, p in cells] + [{'cell_type': 'markdown', 'metadata': {}},
                              {'cell_type': 'markdown', 'metadata': {'nbgrader': {
                                  'grade': True, 'solution': True, 'grade_id': 'q_why', 'points': 2}}}]}))


def suite_file(course):
    # a name of its own: pytest keeps the suite modules it imported by name
    return course / 'suites' / f"test_{course.name.replace('-', '_')}.py"


@pytest.fixture
def course(tmp_path):
    (tmp_path / 'suites').mkdir()
    suite_file(tmp_path).write_text(SUITE)
    (tmp_path / 'nb').mkdir()
    notebook(tmp_path / 'nb' / '01.ipynb', [('b', 1), ('a', 3)])
    return tmp_path


def test_a_rubric_is_built_from_marks_and_cells_and_reads_back(course):
    built = R.build_rubric(course / 'suites', course / 'nb')
    assert list(built) == ['b', 'a']    # notebook order
    a = built['a']
    assert (a.notebook, a.functions, a.points, a.time_budget) == ('01.ipynb', ('m.f', 'm.C.g'), 3, None)
    assert dict(a.tests) == {'test_x': Fraction(5, 2), 'test_y': Fraction(1, 2)}
    assert built['b'].time_budget == 60 and R.student_modules(built) == ['m']
    assert built.written == (R.WrittenQuestion('q_why', '01.ipynb', Fraction(2)),) and 'q_why' not in built
    assert (built.total, built.written_total, built.course_total) == (4, 2, 6)
    (course / 'rubric.toml').write_text(R.to_toml(built))
    assert R.load_rubric(course / 'rubric.toml') == built


@pytest.mark.parametrize('change, message', [
    (lambda s: s.replace("points=2.5)", ")"), "needs exactly one @pytest.mark.item"),
    (lambda s: s.replace("'b': Graded((), time_budget=60)", ""), "no suite declares"),
    (lambda s: s.replace("for k in (1, 2, 3)", "for k in (1, 2, 3)][:2] + [pytest.param("
                         "4, marks=pytest.mark.item('a', points=0.7))"), "different points"),
])
def test_a_suite_that_is_not_a_rubric_is_refused(course, change, message):
    suite = suite_file(course)
    suite.write_text(change(suite.read_text()))
    with pytest.raises(R.RubricError, match=message):
        R.build_rubric(course / 'suites', course / 'nb')


@pytest.mark.parametrize('cells, message', [
    ([('b', 1)], "item a has no autograded cell"),
    ([('b', 1), ('a', 3), ('c', 2)], "the graded cell c of 01.ipynb has no hidden tests"),
])
def test_notebooks_that_disagree_with_the_suites_are_refused(course, cells, message):
    notebook(course / 'nb' / '01.ipynb', cells)
    with pytest.raises(R.RubricError, match=message):
        R.build_rubric(course / 'suites', course / 'nb')


@pytest.mark.parametrize('edit, message', [
    (lambda s: s.replace('time_budget = 120', 'time_budget = "long"', 1), 'time_budget of train_two_layer'),
    (lambda s: s.replace('test_forward_values = 2.25', 'test_forward_values = 2', 1),
     'tests of linear_forward add up to 2.75, not its 3 points'),
    (lambda s: s.replace('[items.sgd.tests]', '', 1), r'\[items.sgd\] has no tests'),
    (lambda s: s.replace('notebook = ', 'book = ', 1), 'has no notebook'),
    (lambda s: 'items = 3', 'has no \\[items.ID\\] tables'),
])
def test_a_broken_rubric_file_is_refused_clearly(tmp_path, edit, message):
    bad = tmp_path / 'rubric.toml'
    bad.write_text(edit(R.RUBRIC.read_text()))
    with pytest.raises(R.RubricError, match=message):
        R.load_rubric(bad)


def marked(item, function, points):
    return {'item': item, 'function': function, 'name': f'{function}[0]', 'points': points}


@pytest.mark.parametrize('tests, message', [
    ([marked('sgd', 'test_update_rule', 1.6), marked('sgd', 'test_state', 0.3)], 'lacks test_state'),
    ([marked('sgd', 'test_update_rule', 1.7)], 'marked with 1.7 points of sgd, the rubric gives 1.6'),
    ([marked('sgd', 'test_update_rule', 1.6)], 'names tests that do not exist'),
    ([marked('nope', 'test_update_rule', 1.6)], 'not in the rubric'),
])
def test_the_harness_refuses_marks_that_disagree_with_the_rubric(tests, message):
    with pytest.raises(GradingError, match=message) as e:
        check_marks(BUILT, tests, {'sgd'})
    assert R.REGENERATE in str(e.value)
