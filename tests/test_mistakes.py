"""The hidden suites separate wrong from right: every catalogued mistake
(tests/mistakes/) loses points on the items it names, by orders of magnitude
beyond the tolerances, with messages for students; the items it cascades into
name it as their cause. Graded in-process, one case at a time, on its own
items (test_catalogue.py grades every case through the real sandbox, every
item). The default run grades one mistake per module; the rest are slow.
"""
import pytest

from mistakes import REFERENCE, RUBRIC, build_package, grade, load_catalogue, problems

CATALOGUE = load_catalogue('mistakes')


def first_per_module(catalogue):
    firsts = {}
    for module, name in catalogue:
        firsts.setdefault(module, (module, name))
    return set(firsts.values())


def params(catalogue):
    fast = first_per_module(catalogue)
    return [pytest.param(key, id=f'{key[0]}-{key[1]}',
                         marks=() if key in fast else pytest.mark.slow)
            for key in catalogue]


def test_reference_gets_full_marks_and_rubric_matches_suites():
    grades = grade(REFERENCE)
    assert set(grades) == set(RUBRIC), "every rubric item is tested, every test names an item"
    for item, g in grades.items():
        assert g['score'] == g['max'] == float(RUBRIC[item].points), (item, g['failed'])


@pytest.mark.parametrize('key', params(CATALOGUE))
def test_mistake_loses_points_on_its_own_items(key, tmp_path):
    case = CATALOGUE[key]
    assert case.loses, "a mistake names the items it must lose"
    grades = grade(build_package(case.patch, tmp_path), items=case.loses + case.cascades)
    assert problems(case, grades) == []


def test_stubs_score_zero(tmp_path):
    """The released package (every solution block stubbed) earns no points."""
    from autograder.blocks import stub_source
    from autograder.rubric import student_modules
    package = build_package({}, tmp_path)
    for module in student_modules():
        path = package / f'{module}.py'
        path.write_text(stub_source(path.read_text(), f'scratchnn/{module}.py'))
    grades = grade(package)
    assert {item: g['score'] for item, g in grades.items() if g['score']} == {}
