"""The hidden suites separate wrong from right: every catalogued mistake
(tests/mistakes/) loses points on the items it targets, and only there (or on
items that call the broken function). The default run grades one mistake per
module; the whole catalogue runs with the slow tests.
"""
import pytest

from mistakes import REFERENCE, build_package, grade, load_catalogue, rubric_tests

CATALOGUE = load_catalogue('mistakes')
ALL_SUITES = ['test_layers.py', 'test_init.py', 'test_optim.py', 'test_dropout.py',
              'test_normalization.py', 'test_training.py']


def first_per_module(catalogue):
    firsts = {}
    for (module, name), case in catalogue.items():
        if not case.slow:
            firsts.setdefault(module, (module, name))
    return set(firsts.values())


def params(catalogue):
    fast = first_per_module(catalogue)
    return [pytest.param(key, id=f'{key[0]}-{key[1]}',
                         marks=() if key in fast else pytest.mark.slow)
            for key in catalogue]


def describe(grades):
    return {item: (g['score'], g['max'], g['failed']) for item, g in grades.items()}


def test_reference_gets_full_marks_and_rubric_matches_suites():
    grades = grade(REFERENCE, ALL_SUITES)
    rubric = rubric_tests()
    assert set(grades) == set(rubric), "every rubric item is tested, every test names an item"
    for item, g in grades.items():
        assert g['score'] == g['max'] == sum(rubric[item].values()), (item, g['failed'])


@pytest.mark.parametrize('key', params(CATALOGUE))
def test_mistake_loses_points(key, tmp_path):
    case = CATALOGUE[key]
    grades = grade(build_package(case.patch, tmp_path), case.suites)
    assert case.loses, "a mistake names the items it must lose"
    for item in case.loses:
        assert grades[item]['score'] < grades[item]['max'], (item, describe(grades))
        for message in grades[item]['failed'].values():
            # Student-facing: says what is wrong, shows no test source.
            assert message and 'def test_' not in message, message
    for item, g in grades.items():
        if item not in case.loses and item not in case.may_lose:
            assert g['score'] == g['max'], (f"{item} lost points but is independent of the mistake",
                                            g['failed'])


def test_stubs_score_zero(tmp_path):
    """The released package (every solution block stubbed) earns no points."""
    from coursekit.blocks import stub_source
    package = build_package({}, tmp_path)
    for module in ('layers', 'dropout', 'normalization', 'init', 'optim'):
        path = package / f'{module}.py'
        path.write_text(stub_source(path.read_text(), f'scratchnn/{module}.py'))
    grades = grade(package, ALL_SUITES)
    assert {item: g['score'] for item, g in grades.items() if g['score']} == {}
