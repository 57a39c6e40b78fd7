"""`python -m autograder grade`: exit codes, the table, results.json; and the scoring rules."""
import json
import subprocess
import sys
from fractions import Fraction

import pytest

from autograder.cli import format_table
from autograder.harness import GradingError, failure_message, score
from autograder.isolation.student import StudentError
from autograder.rubric import Item, Rubric
from hostile import REPO


def run_grade(*args):
    return subprocess.run([sys.executable, '-m', 'autograder', 'grade', *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def test_grade_writes_results_and_prints_a_table(tmp_path):
    out = tmp_path / 'results.json'
    done = run_grade(REPO / 'solutions' / 'nn_from_scratch', '--json', out,
                     '--items', 'relu_forward,sgd')
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert results['score'] == results['max_score'] == 4
    assert set(results['items']) == {'relu_forward', 'sgd'}
    assert all({'name', 'score', 'max_score', 'output', 'number'} <= set(t) for t in results['tests'])
    assert 'relu_forward' in done.stdout and 'total' in done.stdout
    assert results['sandbox'] == 'bubblewrap' or 'WARNING' in done.stderr


def test_a_zero_grade_still_exits_0_and_no_grade_exits_2(tmp_path):
    done = run_grade(REPO / 'assignments' / 'nn_from_scratch', '--json', tmp_path / 'r.json',
                     '--items', 'sgd')
    assert done.returncode == 0 and json.loads((tmp_path / 'r.json').read_text())['score'] == 0
    assert 'not implemented' in done.stdout
    missing = run_grade(tmp_path / 'nowhere')
    assert missing.returncode == 2 and 'nowhere does not exist' in missing.stderr


RUBRIC = Rubric((Item('a', 'n.ipynb', (), {'t1': Fraction(1), 't2': Fraction(1), 't3': Fraction(1)}),
                 Item('b', 'n.ipynb', (), {'t_x': Fraction(3), 't_y': Fraction(1)})))


def record(item, function, outcome, name=None, message=''):
    return {'item': item, 'function': function, 'name': name or function, 'outcome': outcome,
            'message': message}


def test_scores_split_by_the_tests_table_and_skips_leave_the_item():
    tests = [record('a', 't1', 'passed'), record('a', 't2', 'failed', message='off'),
             record('a', 't3', 'skipped'),
             record('b', 't_x', 'passed', 't_x[0]'), record('b', 't_x', 'failed', 't_x[1]'),
             record('b', 't_y', 'passed')]
    items, entries = score(RUBRIC, tests, {})
    assert items['a']['score'] == 1.5 and items['b']['score'] == 2.5
    assert [e['max_score'] for e in entries] == [1.5, 1.5, 0.0, 1.5, 1.5, 1.0]


def test_a_violation_zeroes_the_item_and_says_why():
    tests = [record('a', 't1', 'passed'), record('b', 't_x', 'passed'), record('b', 't_y', 'passed')]
    items, entries = score(RUBRIC, tests, {'b': 'Rule violation: no'})
    assert items['a']['score'] == 3 and items['b']['score'] == 0
    assert all(e['output'].startswith('Rule violation') for e in entries if e['number'] == 'b')


@pytest.mark.parametrize('tests', [
    [record('a', 't1', 'passed')],                                   # b has no test
    [record('a', 't1', 'passed'), record('b', 't_z', 'passed')],     # t_z not in b's table
    [record('a', 't1', 'passed'), record('b', 't_x', 'skipped')],    # every test of b skipped
    [record('a', 't1', 'passed'), record('b', 't_x', 'passed'), record('c', 't', 'passed')],
])
def test_suites_and_rubric_that_disagree_refuse_to_grade(tests):
    with pytest.raises(GradingError):
        score(RUBRIC, tests, {})


def test_failure_messages_show_the_message_only():
    assert failure_message(AssertionError('out has shape (2, 3), expected (2, 4)\nassert False')) \
        == 'out has shape (2, 3), expected (2, 4)'
    assert failure_message(AssertionError()) == 'a check of your output failed'
    assert failure_message(StudentError('crash', 'x: died')) == 'x: died'


def test_table_lists_every_item_with_its_whole_first_reason_and_the_total():
    results = {'score': 1, 'max_score': 3, 'items': {'a': {'score': 1, 'max_score': 3}},
               'tests': [{'number': 'a', 'score': 0, 'max_score': 2, 'output': 'bad ' * 50 + 'end\nmore'}],
               'written': {'score': None, 'max_score': 2}}
    table = format_table(results)
    assert 'bad ' * 50 + 'end' in table and 'more' not in table
    assert table.splitlines()[-1] == 'Total: 1 / 5: autograded 1 / 3, written questions pending / 2 (graded by hand)'


@pytest.mark.slow
def test_student_code_saying_odd_things_is_graded_with_its_text_as_data(tmp_path):
    """Issue 20: a lone surrogate in an exception message made `grade` exit 1
    with no results.json (printing the table failed). Now the grade is
    written, and what the code said (terminal controls, undecodable bytes, a
    right-to-left override) reaches results.json and the terminal escaped."""
    from hostile import make_submission
    out = tmp_path / 'results.json'
    done = run_grade(make_submission(tmp_path / 'odd', ['odd_text']), '--json', out,
                     '--items', 'relu_forward,sgd')
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert results['items']['relu_forward']['score'] == 0
    assert results['items']['sgd']['score'] == results['items']['sgd']['max_score']
    said = [t['output'] for t in results['tests'] if t['number'] == 'relu_forward']
    assert any('bad \\ud800 \\x1b[31mred' in message for message in said), said
    assert '\\x1b[2J' in results['output'] and '\x1b' not in results['output']
    assert 'relu_forward' in done.stdout and '\x1b' not in done.stdout
