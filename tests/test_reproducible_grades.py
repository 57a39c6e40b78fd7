"""A grade is reproducible: grading one submission twice, or a submission
whose code reseeds the global random generators anywhere, gives the same
score to the point. The grader's own inputs come from private generators,
the sandbox reseeds every child before each test, and the numeric checks
that shuffle their calls with os.urandom give the same numbers in any order
for code that is a function of its inputs."""
import pytest

from autograder.harness import grade_submission
from mistakes import build_package, load_catalogue

RESEEDING = load_catalogue('variants')[('layers', 'reseeds_the_global_rng_everywhere')]
# The items whose tests draw random numbers in student code or shuffle calls.
RANDOM_ITEMS = ['xavier_uniform', 'kaiming_normal', 'dropout_forward', 'dropout_backward', 'fc_net',
                'linear_backward']


def scores(results):
    return {(t['number'], t['name']): t['score'] for t in results['tests']}


def test_reseeding_student_code_grades_the_same_twice_in_process(tmp_path):
    build_package(RESEEDING.patch, tmp_path)
    first = grade_submission(tmp_path, sandbox='inprocess', items=RANDOM_ITEMS)
    again = grade_submission(tmp_path, sandbox='inprocess', items=RANDOM_ITEMS)
    assert first['score'] == first['max_score']
    assert scores(first) == scores(again)


@pytest.mark.slow
def test_a_submission_grades_the_same_twice_through_the_sandbox(tmp_path):
    """Sandboxed, twice: the reseeding code and a mistake whose failing checks
    take the numeric (shuffled) path, on the items that draw random numbers,
    shuffle calls or train."""
    mistake = load_catalogue('mistakes')[('layers', 'linear_stateful_forward_fools_the_numeric_check')]
    patch = {m: RESEEDING.patch.get(m, []) + mistake.patch.get(m, [])
             for m in set(RESEEDING.patch) | set(mistake.patch)}
    build_package(patch, tmp_path)
    items = RANDOM_ITEMS + ['linear_forward', 'train_two_layer']
    first, again = grade_submission(tmp_path, items=items), grade_submission(tmp_path, items=items)
    assert 0 < first['score'] < first['max_score']
    assert scores(first) == scores(again)
