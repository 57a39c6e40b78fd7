"""Hostile submissions grade exactly like their honest equivalents (tests/hostile/README.md):
what a module does to its process, to torch, to files or to the grader costs only the
items its own code fails, and the grader process is unaffected. Also the rule check,
and the two anchors: the solutions earn full marks, the blank stubs earn nothing.

The sandbox's promises are proven without the rule check (`without_the_rule_check`):
they must hold for code that got past it. The allow-list itself: tests/test_rules.py."""
import time

import numpy
import pytest
import torch

from autograder.isolation import cgroups

from autograder import rules
from autograder.harness import grade_submission
from autograder.isolation.sandbox import SandboxedStudent, bwrap_status
from autograder.isolation.student import StudentError
from autograder.blocks import stub_source
from autograder.rubric import load_rubric
from hostile import REFERENCE, REPO, STUDENT_MODULES, make_submission

BWRAP, BWRAP_WHY = bwrap_status()
CGROUP, CGROUP_WHY = cgroups.available()
needs_cgroup = pytest.mark.skipif(CGROUP is None, reason=f"no control group ({CGROUP_WHY}): "
                                  f"without one this submission would really take the machine")
GRADER_MEMORY_BUDGET = 600 << 20   # bytes the grader process may grow by while grading
REAL_ALLCLOSE, REAL_EQ, REAL_NP_ALLCLOSE = torch.allclose, torch.Tensor.__eq__, numpy.allclose
RUBRIC = load_rubric()


def grade(submission, items=None):
    # Generous: a loaded CI machine must never turn honest work into a timeout.
    return grade_submission(submission, items=items, timeout=10.0)


def item_scores(results):
    return {item: v['score'] for item, v in results['items'].items()}


def items_outside(modules):
    """Items none of whose functions lie in these modules (training runs excluded)."""
    return [i for i, spec in RUBRIC.items() if spec.functions
            and not any(f.partition('.')[0] in modules for f in spec.functions)]


def reset_peak_memory():
    """Start measuring this process's peak resident memory afresh; returns the current one."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    return _status_bytes('VmRSS')


def peak_memory():
    return _status_bytes('VmHWM')


def _status_bytes(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def assert_no_better_than_honest(hostile, honest, items):
    """Item by item, the attack earns no more than the honest code of the same footprint."""
    for item in items:
        assert hostile['items'][item]['score'] <= honest['items'][item]['score'], item


def assert_grader_unharmed():
    assert torch.allclose is REAL_ALLCLOSE and torch.Tensor.__eq__ is REAL_EQ
    assert numpy.allclose is REAL_NP_ALLCLOSE


@pytest.mark.slow
def test_crashing_hanging_hungry_and_noisy_modules_cost_only_their_own_items(tmp_path, without_the_rule_check):
    cases = ['loop', 'exit_at_import', 'exit_in_call', 'memory', 'flood']
    items = ['sgd', 'sgd_momentum', 'linear_forward', 'relu_forward', 'xavier_uniform',
             'xavier_normal', 'dropout_forward', 'layernorm_forward']
    hostile = grade(make_submission(tmp_path / 'hostile', cases), items)
    honest = grade(make_submission(tmp_path / 'honest', cases, 'equivalent'), items)
    assert item_scores(hostile) == item_scores(honest)
    full = {i: RUBRIC[i].points for i in items}
    for item in ('sgd', 'linear_forward', 'xavier_normal'):  # honest parts: full marks
        assert hostile['items'][item]['score'] == full[item], item
    for item in ('sgd_momentum', 'relu_forward', 'xavier_uniform', 'dropout_forward',
                 'layernorm_forward'):
        assert hostile['items'][item]['score'] < full[item], item
    outputs = {}
    for t in hostile['tests']:
        outputs[t['number']] = outputs.get(t['number'], '') + t['output']
    assert 'did not finish' in outputs['sgd_momentum']
    assert 'memory' in outputs['xavier_uniform']
    assert 'exit' in outputs['relu_forward']
    assert_grader_unharmed()


@pytest.mark.slow
def test_monkeypatched_torch_and_planted_result_files_change_nothing(tmp_path, without_the_rule_check):
    cases = ['monkeypatch', 'write_files']
    items = ['linear_forward', 'relu_forward', 'sgd', 'sgd_momentum']
    # Without bwrap the planted files do land: a stand-in takes the repository's.
    repo = REPO if BWRAP else tmp_path / 'repository'
    repo.mkdir(exist_ok=True)
    submission = make_submission(tmp_path / 'hostile', cases, repo=repo)
    hostile = grade(submission, items)
    honest = grade(make_submission(tmp_path / 'honest', cases, 'equivalent'), items)
    assert item_scores(hostile) == item_scores(honest)
    assert hostile['items']['linear_forward']['score'] == 0   # wrong output, patched compare
    assert hostile['items']['relu_forward']['score'] == RUBRIC['relu_forward'].points
    assert hostile['items']['sgd']['score'] == RUBRIC['sgd'].points
    assert_grader_unharmed()
    if BWRAP:
        for place in (submission, submission / 'scratchnn', REPO, REPO.parent):
            assert not (place / 'hostile_was_here.txt').exists(), place
    else:     # they landed, and changed no grade
        assert (repo / 'hostile_was_here.txt').exists()


@pytest.mark.skipif(not BWRAP, reason=f"bubblewrap unavailable ({BWRAP_WHY}): without it the "
                    f"snooping module could read and rewrite the repository for real")
def test_snooping_module_finds_nothing_and_grades_honestly(tmp_path, without_the_rule_check):
    suites = sorted((REPO / 'autograder' / 'suites').glob('*.py'))
    before = {p: p.read_bytes() for p in suites}
    submission = make_submission(tmp_path / 'snoop', ['snoop'])
    with open(submission / 'scratchnn' / 'init.py', 'a') as f:  # act at import, every child
        f.write("\n_found = [p for p, seen in probe_paths(SECRETS).items() if seen]\n"
                "rewrite_suites()\nnetwork()\nprint('snooped:', _found)\n")
    results = grade(submission, ['xavier_uniform', 'xavier_normal'])
    assert results['score'] == results['max_score']
    assert 'snooped: []' in results['output']
    assert {p: p.read_bytes() for p in suites} == before


def test_modules_linked_to_the_solutions_earn_nothing(tmp_path):
    """A package of symlinks into the course's own solutions (or another
    student's folder) is refused module by module, never graded as the student's."""
    submission = make_submission(tmp_path / 'links')
    package = submission / 'scratchnn'
    (package / 'layers.py').unlink()
    (package / 'layers.py').symlink_to(REFERENCE / 'layers.py')
    (package / 'optim.py').unlink()
    (package / 'optim.py').hardlink_to(make_submission(tmp_path / 'other') / 'scratchnn' / 'optim.py')
    results = grade(submission, ['linear_forward', 'sgd', 'xavier_normal'])
    assert item_scores(results) == {'linear_forward': 0, 'sgd': 0,
                                    'xavier_normal': RUBRIC['xavier_normal'].points}
    outputs = {t['number']: t['output'] for t in results['tests']}
    assert 'scratchnn/layers.py is a symbolic link; submit the file itself' in outputs['linear_forward']
    assert 'scratchnn/optim.py is a hard link' in outputs['sgd']


def test_a_rule_violation_zeroes_its_item_with_a_clear_message(tmp_path):
    results = grade(make_submission(tmp_path, ['forbidden']), ['rmsprop', 'sgd'])
    assert results['items']['rmsprop']['score'] == 0
    assert results['items']['sgd']['score'] == RUBRIC['sgd'].points
    messages = [t['output'] for t in results['tests'] if t['number'] == 'rmsprop']
    assert messages and all('Rule violation' in m and 'torch.optim' in m for m in messages)


@pytest.mark.parametrize('source, where', [
    ("import torch\ndef f(x):\n    return torch.nn.functional.relu(x)\n", 'f'),
    ("import torch.nn as nn\ndef f(x):\n    return x\n", None),
    ("from torch import nn\ndef f(x):\n    return x\n", None),
    ("import torch\ndef f(x):\n    import torch.nn.functional as F\n    return F.relu(x)\n", 'f'),
    ("import torch as T\ndef f(x):\n    return T.autograd.grad(x, x)\n", 'f'),
    ("import torch\nt = torch\ndef f(x):\n    return t.optim\n", 'f'),
    ("import torch\ndef f(x):\n    return getattr(torch, 'n' + 'n')\n", 'f'),
    ("def f(x):\n    return __import__('torch.nn')\n", 'f'),
    ("import importlib\ndef f(x):\n    return x\n", None),
    ("import torch\nclass A:\n    @staticmethod\n    def f(x):\n        return torch.func.grad\n", 'A.f'),
])
def test_rule_check_finds_forbidden_uses(source, where):
    qualname = where or 'f'
    found = rules.check_source(source, {qualname, 'f', 'A.f'})
    assert where in found and found[where]


def test_rule_check_accepts_the_reference_and_plain_torch():
    for name in STUDENT_MODULES:
        source = (REFERENCE / f'{name}.py').read_text()
        assert rules.check_source(source, {f.partition('.')[2] for i in RUBRIC.values()
                                           for f in i.functions}) == {}
    ok = "import torch\ndef f(x):\n    return torch.relu(x) @ x.T + torch.zeros_like(x).sum()\n"
    assert rules.check_source(ok, {'f'}) == {}


@pytest.mark.slow
def test_solutions_earn_full_marks():
    results = grade_submission(REPO / 'solutions' / 'nn_from_scratch')
    assert results['max_score'] == 100
    assert results['score'] == 100, [t for t in results['tests'] if t['score'] < t['max_score']]


@pytest.mark.slow
def test_blank_stubs_earn_nothing_on_every_item(tmp_path):
    package = tmp_path / 'scratchnn'
    package.mkdir()
    for name in STUDENT_MODULES:
        source = (REFERENCE / f'{name}.py').read_text()
        (package / f'{name}.py').write_text(stub_source(source, f'scratchnn/{name}.py'))
    results = grade_submission(tmp_path)
    assert results['max_score'] == 100
    assert {i: v['score'] for i, v in results['items'].items()} == {i: 0 for i in RUBRIC}


@pytest.mark.slow
def test_every_item_outside_the_hostile_modules_keeps_full_marks(tmp_path, without_the_rule_check):
    cases = ['exit_at_import', 'memory', 'monkeypatch']  # normalization, init, layers
    results = grade_submission(make_submission(tmp_path, cases), timeout=5.0)
    keep = items_outside({'normalization', 'init', 'layers'})
    assert keep
    for item in keep:
        assert results['items'][item]['score'] == RUBRIC[item].points, item
    assert results['items']['layernorm_forward']['score'] == 0
    assert_grader_unharmed()


@pytest.mark.parametrize('case, module, items', [
    ('autograd', 'layers', ['linear_backward', 'relu_backward', 'linear_forward']),
    # The others are refused at run time too (test_sandbox.py, fast); here, slow, graded.
    pytest.param('default_argument', 'dropout', ['dropout_forward', 'dropout_backward'],
                 marks=pytest.mark.slow),
    pytest.param('attrgetter', 'layers', ['relu_forward', 'linear_forward'], marks=pytest.mark.slow),
    pytest.param('given_module', 'layers', ['linear_forward', 'relu_forward'],
                 marks=pytest.mark.slow),
    pytest.param('threads', 'optim', ['sgd', 'adam'], marks=pytest.mark.slow),
])
def test_autograd_and_torch_layers_earn_nothing_however_spelled(tmp_path, case, module, items):
    """Each route around the rule (tests/hostile/<case>) scores no more than the
    honest partial code it stands for, and the other modules keep full marks."""
    other = ['xavier_normal'] if module != 'init' else ['sgd']
    hostile = grade(make_submission(tmp_path / 'hostile', [case]), items + other)
    honest = grade(make_submission(tmp_path / 'honest', [case], 'equivalent'), items + other)
    assert_no_better_than_honest(hostile, honest, items)
    assert hostile['items'][items[0]]['score'] == 0
    for item in other:
        assert hostile['items'][item]['score'] == RUBRIC[item].points, item
    messages = ' '.join(t['output'] for t in hostile['tests'] if t['number'] == items[0])
    assert 'Rule violation' in messages, messages


BACKWARD_ROUTES = ['batchnorm_backward', 'batchnorm_backward_alt', 'layernorm_backward',
                   'groupnorm_backward']


@pytest.mark.slow
def test_backward_passes_computed_by_pytorch_and_an_unreadable_module_earn_nothing(tmp_path):
    """tests/hostile/backward_routes: the operator registry's backward kernel,
    forward-mode AD, the real autograd recovered from the lockdown's guard and
    closure, a code object claiming to be torch's; each scored full marks
    before the allow-list. tests/hostile/deep_expression: init.py nested
    6000 levels deep, which crashed the rule check (no results at all). Now
    the rule check zeroes them, by name and line, and costs no other module."""
    submission = make_submission(tmp_path, ['backward_routes', 'deep_expression'])
    results = grade(submission, BACKWARD_ROUTES + ['xavier_normal', 'sgd'])
    assert item_scores(results) == {**{i: 0 for i in BACKWARD_ROUTES + ['xavier_normal']},
                                    'sgd': RUBRIC['sgd'].points}
    outputs = {}
    for t in results['tests']:
        outputs[t['number']] = outputs.get(t['number'], '') + t['output']
    for refused in ('.ops (', 'getattr (a builtin that is not allowed) (line'):  # the first five
        assert all(refused in outputs[item] for item in BACKWARD_ROUTES), refused
    assert 'scratchnn/init.py is refused: the rule check cannot read it' in outputs['xavier_normal']


@pytest.mark.slow
def test_the_lockdown_alone_refuses_forged_code_and_forward_mode_ad(tmp_path):
    """Without the rule check, at run time: a code object that claims torch's
    file name and a module's code name, and forward-mode AD's dual numbers,
    are refused (the audit hook, the dual-level lock)."""
    submission = make_submission(tmp_path, ['backward_routes'])
    x, gamma = torch.randn(4, 3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    x4, gamma4 = torch.randn(2, 4, 2, 2, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    with SandboxedStudent(submission, spares=0) as student:
        cache = student.call('normalization.BatchNorm.forward', x, gamma, 0 * gamma,
                             {'mode': 'train'}).ref[1]
        with pytest.raises(StudentError, match='forward-mode') as err:
            student.call('normalization.BatchNorm.backward_alt', torch.ones_like(x), cache)
        assert err.value.kind == 'rule'
        cache = student.call('normalization.GroupNorm.forward', x4, gamma4, 0 * gamma4, 2,
                             {}).ref[1]
        with pytest.raises(StudentError, match=r'introspection \(object.__getattr__ __code__\)') as err:
            student.call('normalization.GroupNorm.backward', torch.ones_like(x4), cache)
        assert err.value.kind == 'rule'


@pytest.mark.slow
def test_a_coding_cookie_hides_nothing(tmp_path):
    """utf-7 would hide `import torch.nn` from a scan reading UTF-8: the module is refused."""
    submission = make_submission(tmp_path)
    layers = submission / 'scratchnn' / 'layers.py'
    layers.write_bytes(b"# -*- coding: utf-7 -*-\n" + layers.read_bytes())
    results = grade(submission, ['linear_forward', 'sgd'])
    assert results['items'] == {'linear_forward': {'score': 0, 'max_score': 1.0 * RUBRIC['linear_forward'].points},
                                'sgd': {'score': 1.0 * RUBRIC['sgd'].points, 'max_score': 1.0 * RUBRIC['sgd'].points}}
    assert any("declares the encoding 'utf-7'" in t['output'] for t in results['tests'])


def test_replies_that_inflate_are_refused_before_the_grader_grows(tmp_path, without_the_rule_check):
    """An expanded tensor of 40 GB at full size, one tensor referenced a billion
    times, a reply written by hand that names strides taking 800 MB for 800 KB
    sent: refused as replies, the grader process stays within its budget."""
    cases = ['inflate', 'strides']
    items = ['dropout_forward', 'dropout_backward', 'kaiming_normal', 'sgd']
    honest = grade(make_submission(tmp_path / 'honest', cases, 'equivalent'), items)
    before = reset_peak_memory()
    hostile = grade(make_submission(tmp_path / 'hostile', cases), items)
    assert peak_memory() - before < GRADER_MEMORY_BUDGET
    assert_no_better_than_honest(hostile, honest, items)
    assert hostile['items']['sgd']['score'] == RUBRIC['sgd'].points
    outputs = ' '.join(t['output'] for t in hostile['tests'] if t['number'] == 'dropout_forward')
    assert 'sent back too much' in outputs


@pytest.mark.slow
@needs_cgroup
@pytest.mark.skipif(not BWRAP, reason=f"bubblewrap unavailable ({BWRAP_WHY}): without it the "
                    f"RAM-backed files land in the host's /dev/shm and /tmp, and stay there")
def test_ram_files_many_processes_and_background_work_stay_in_the_submission_budget(tmp_path, without_the_rule_check):
    """Files in /dev/shm, /tmp and memfd, 200 processes at once, a process left
    burning CPU from import: the submission's control group bounds them all, the
    strays are killed between tests, and no other item is lost."""
    items = ['xavier_uniform', 'kaiming_uniform', 'xavier_normal', 'kaiming_normal', 'sgd']
    honest = grade(make_submission(tmp_path / 'honest', ['budget'], 'equivalent'), items)
    before, started = reset_peak_memory(), time.monotonic()
    hostile = grade(make_submission(tmp_path / 'hostile', ['budget']), items)
    assert time.monotonic() - started < 120
    assert peak_memory() - before < GRADER_MEMORY_BUDGET
    assert item_scores(hostile) == item_scores(honest)
    for item in ('xavier_normal', 'kaiming_normal', 'sgd'):
        assert hostile['items'][item]['score'] == RUBRIC[item].points, item


def test_signals_from_inside_cost_no_other_item(tmp_path, without_the_rule_check):
    """A module that tries to kill or stop every process it can name (its
    parent, its siblings, -1), or to have the kernel do it (async-I/O owners)
    or starve them (resource limits, priority, CPUs, scheduler), hurts none
    of them."""
    cases = ['signals', 'reach_parent']
    items = ['relu_forward', 'sgd_momentum', 'linear_forward', 'sgd', 'xavier_normal',
             'dropout_forward']
    hostile = grade(make_submission(tmp_path / 'hostile', cases), items)
    honest = grade(make_submission(tmp_path / 'honest', cases, 'equivalent'), items)
    assert item_scores(hostile) == item_scores(honest)
    for item in items[2:]:
        assert hostile['items'][item]['score'] == RUBRIC[item].points, item
