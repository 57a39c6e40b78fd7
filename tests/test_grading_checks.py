"""The generic checks of the hidden suites (autograder/suites/checks.py) and
the harness's cause detection, on small functions whose answers are known."""
import pytest
import torch

from autograder.harness import cause_of
from autograder.isolation.student import StudentError
from autograder.rubric import load_rubric
from autograder.suites import oracles as O
from autograder.suites.checks import (FD_TOL, Failure, Reference, expect_match, own_forward_errors,
                                      unpredictable_order)

X = O.randn(4, 3, seed=1)
DOUT = O.randn(4, 2, seed=2)
W = O.randn(3, 2, seed=3)


def pure(inputs):
    (x,) = inputs
    return torch.tanh(x @ W)


def true_dx():
    _, (dx,) = O.autograd(lambda x: torch.tanh(x @ W), [X], DOUT)
    return dx


def test_numeric_gradient_of_an_honest_forward_is_exact_to_round_off():
    errors = own_forward_errors(pure, {'x': X}, {'x': true_dx()}, DOUT, seed=0)
    assert errors['x'] < FD_TOL / 100
    wrong = own_forward_errors(pure, {'x': X}, {'x': 1.01 * true_dx()}, DOUT, seed=0)
    assert wrong['x'] > 100 * FD_TOL


def test_a_forward_that_remembers_its_calls_cannot_fake_a_gradient():
    """Linear around the last new input with a wrong slope (2 w instead of
    tanh'): exact for itself when the points come in a fixed order, caught by
    calling each point twice in an order drawn from os.urandom."""
    state = {}

    def stateful(inputs):
        x, w = inputs
        anchor = state.get('x')
        if anchor is not None and torch.equal(w, state['w']) and (x - anchor).abs().max() < 1e-3:
            return state['out'] + 2 * ((x - anchor) @ w)
        state.update(x=x.clone(), w=w.clone(), out=torch.tanh(x @ w))
        return state['out']

    fake = {'x': 2 * DOUT @ W.T, 'w': O.autograd(lambda w: torch.tanh(X @ w), [W], DOUT)[1][0]}
    with pytest.raises(Failure, match='different values for the same input'):
        own_forward_errors(stateful, {'x': X, 'w': W}, fake, DOUT, seed=0)


def test_the_order_is_unpredictable_but_the_verdict_is_not():
    orders = {tuple(unpredictable_order(range(20))) for _ in range(5)}
    assert len(orders) > 1
    first = own_forward_errors(pure, {'x': X}, {'x': true_dx()}, DOUT, seed=4)
    again = own_forward_errors(pure, {'x': X}, {'x': true_dx()}, DOUT, seed=4)
    assert first == again   # a function of its inputs gives the same numbers in any order


def test_a_result_earns_its_points_by_matching_any_reference_and_fails_naming_each():
    right, other = torch.ones(3, dtype=torch.float64), 2 * torch.ones(3, dtype=torch.float64)
    references = [Reference('the true layer', lambda: {'dx': right}, 1e-9),
                  Reference('your own forward', lambda: {'dx': other}, 1e-9)]
    expect_match('f', {'dx': other}, references)   # the second one is enough
    with pytest.raises(Failure) as failed:
        expect_match('f', {'dx': 3 * right}, references, caused_by='linear_forward')
    message = str(failed.value)
    assert 'against the true layer' in message and 'against your own forward' in message
    assert failed.value.caused_by == 'linear_forward'


def test_a_reference_that_fails_on_student_code_is_reported_not_fatal():
    def broken():
        raise StudentError('exception', 'layers.ReLU.forward raised ValueError: no')

    with pytest.raises(Failure, match='not available'):
        expect_match('f', {'out': torch.zeros(2)}, [
            Reference('your own ReLU', broken, 1e-9),
            Reference('the true layer', lambda: {'out': torch.ones(2)}, 1e-9)])


@pytest.mark.parametrize('message, item, cause', [
    ("loss: not implemented (Implement Linear.forward in scratchnn/layers.py)", 'fc_net',
     'linear_forward'),
    ("loss raised ValueError: x (at normalization.py:57, in BatchNorm.forward)", 'fc_net',
     'batchnorm_forward'),
    ("raised ValueError: x (at layers.py:40, in Linear.forward)", 'linear_forward', None),
    ("raised ValueError: x (at layers.py:9, in _helper)", 'linear_forward', None),
])
def test_the_harness_names_the_item_whose_code_raised(message, item, cause):
    assert cause_of(StudentError('exception', message), item, load_rubric()) == cause


def test_training_runs_get_their_own_time_budget_and_a_bad_one_is_refused(tmp_path):
    from autograder.rubric import RUBRIC, RubricError
    from autograder.isolation.sandbox import ITEM_TIME_BUDGET
    rubric = load_rubric()
    budgets = {item: spec.time_budget for item, spec in rubric.items() if spec.time_budget}
    assert set(budgets) == {'train_two_layer', 'train_deep_batchnorm'}
    assert min(budgets.values()) > ITEM_TIME_BUDGET
    bad = tmp_path / 'rubric.toml'
    bad.write_text(RUBRIC.read_text().replace('time_budget = 120', 'time_budget = "long"', 1))
    with pytest.raises(RubricError, match='time_budget of train_two_layer'):
        load_rubric(bad)


def test_digits_come_from_the_disk_cache_and_a_broken_one_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setattr(O, 'CACHE_DIR', tmp_path)
    fresh = O._cached_digits(0)
    [cached] = tmp_path.glob('digits-*.pt')
    assert set(fresh) == {'X_train', 'y_train', 'X_val', 'y_val', 'X_test', 'y_test'}
    again = O._cached_digits(0)
    assert all(torch.equal(again[k], fresh[k]) and again[k].dtype == fresh[k].dtype for k in fresh)
    cached.write_bytes(cached.read_bytes()[:100])      # a partial file: computed again
    rebuilt = O._cached_digits(0)
    assert all(torch.equal(rebuilt[k], fresh[k]) for k in fresh)
    assert O._cached_digits(1)['y_test'].tolist() != fresh['y_test'].tolist()   # another seed, another key
