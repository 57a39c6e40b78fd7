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


# ---------------------------------------------------------------- unwritten work elsewhere

def stubbed_package(modules, tmp_path):
    """The reference package with these modules as the release hands them out."""
    from autograder.blocks import stub_source
    package = build_package({}, tmp_path)
    for module in modules:
        path = package / f'{module}.py'
        path.write_text(stub_source(path.read_text(), f'scratchnn/{module}.py'))
    return package


@pytest.mark.slow
def test_unwritten_work_elsewhere_costs_only_its_own_items(tmp_path):
    """layers.py right, init, dropout and normalization not yet written: the net
    keeps full marks (its tests that run those functions are not charged, and
    say why), the unwritten functions' items score nothing."""
    package = stubbed_package(['init', 'dropout', 'normalization'], tmp_path)
    grades = grade(package, items=['fc_net', 'dropout_forward', 'dropout_backward'])
    assert {item: g['score'] for item, g in grades.items()} == {
        'fc_net': float(RUBRIC['fc_net'].points), 'dropout_forward': 0, 'dropout_backward': 0}


@pytest.mark.slow
def test_a_missing_module_costs_what_a_stub_costs(tmp_path):
    """Without dropout.py the net (which imports it) still trains, through the
    real sandbox: the missing module is the release's stub, and its items say
    that it is missing."""
    from autograder.harness import grade_submission
    package = build_package({}, tmp_path)
    (package / 'dropout.py').unlink()
    results = grade_submission(package.parent, items=['train_two_layer', 'dropout_forward'])
    assert {i: v['score'] for i, v in results['items'].items()} == {
        'train_two_layer': float(RUBRIC['train_two_layer'].points), 'dropout_forward': 0}
    assert all('scratchnn/dropout.py is missing from the submission' in t['output']
               for t in results['tests'] if t['number'] == 'dropout_forward')


def test_an_item_lists_every_cause_and_is_not_charged_for_another_items_raising_code():
    """score() and excuse() on recorded outcomes: a failure raised inside
    another item's function is passed with a note where that item loses points
    itself, never for an item whose own function is unwritten, nor for a
    training run; an item's caused_by lists every cause of its failed tests."""
    from autograder.harness import excuse, score

    def record(item, name, caused_by=None, excusable=False):
        return {'name': name, 'function': name.split('[')[0], 'item': item, 'points': 0,
                'outcome': 'failed' if caused_by or name.endswith('wrong]') else 'passed',
                'message': 'm.', 'caused_by': caused_by, 'excusable': excusable}

    tests = [record('linear_forward', 'test_forward_values[wrong]'),
             record('linear_relu', 'test_forward_values[a]', 'linear_forward', excusable=True),
             record('linear_relu', 'test_backward_gradients[a]', 'relu_backward', excusable=True),
             record('relu_backward', 'test_backward_gradients[wrong]'),
             record('train_two_layer', 'test_two_layer_net_trains[x]', 'linear_forward',
                    excusable=True)]
    excused = excuse(RUBRIC, tests, unwritten=set())
    assert [t['outcome'] for t in excused] == ['failed', 'passed', 'passed', 'failed', 'failed']
    assert 'Not charged here' in excused[1]['message']
    unwritten = excuse(RUBRIC, tests, unwritten={'layers.Linear_ReLU.forward'})
    assert [t['outcome'] for t in unwritten][1:3] == ['failed', 'failed']
    items, _ = score(RUBRIC, unwritten, {}, only_items={'linear_relu'})
    assert items['linear_relu']['caused_by'] == ['linear_forward', 'relu_backward']
