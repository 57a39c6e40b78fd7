"""Grade one submission: run the hidden suites against it and score them with the rubric.

    results = grade_submission('path/to/student/nn_from_scratch')

The suites (autograder/suites/test_*.py) run with pytest inside this
process; they reach the student's code only through the `student` fixture,
a sandbox.SandboxedStudent. This process decides every grade.

Scoring (rubric.py; rubric.toml is generated from the suites' marks): each
test belongs to one item (`@pytest.mark.item('<id>', points=P)`), and its
test function earns the points the rubric gives it (split evenly over its
parametrized cases); the marks collected here must agree with the rubric
loaded. Skipped tests (say, CUDA-only ones on a CPU machine) leave the item,
their points spread over the others. A rule violation (rules.py) zeroes its
items.

Feedback never shows test source or tracebacks: a failed assertion shows
its message only (the suites write them for students), a StudentError its
message, anything else its type and message. Everything in the results that
student code could say (messages, printed output) is student text
(autograder/text.py): every writer of results can write it.

A passed test may carry a note in its output (a suite's user_property
'note': it passed on the student's own code, not on the true function).
A failed test whose failure comes from another item's code carries that
item in its results.json entry, `"caused_by": "<item id>"`: the suites say so
(an exception with a `caused_by` attribute), or the student's code raised
inside a function of another item (a stub's NotImplementedError, an error
located "in Linear.forward"). An item's entry in results.json lists every
item that cost it points, `"caused_by": [ids]`.

A mistake, or a function not yet written, costs its own item once. So a
test that fails only because student code raised inside another item's
function (unwritten, or failing on this input) is not charged to its own
item, which passes it with a note naming the cause, when: its item has code
of its own, all written (a training run, which has none, trains the
student's net and cannot be right without it), and the causing item loses
points itself in this grading (so that no mistake goes uncharged, and an
error message that merely names another function buys nothing). A module
missing from the submission or refused counts as a module not yet written:
the release's stub takes its place, so that it costs its own items only.
"""
import ast
import os
import re
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import pytest

from . import rules
from .blocks import functions as function_nodes
from .blocks import parse_module, stub_source
from .course import COURSE
from .text import clean_tree
from .results import Results, pending_written
from .isolation.sandbox import SandboxedStudent
from .isolation.student import StudentError
from .rubric import REGENERATE, RUBRIC, Rubric, RubricError, load_rubric, student_modules  # noqa: F401  (the API)
from .isolation.submission import Submission, SubmissionError, read_submission

HERE = Path(__file__).resolve().parent
SUITES = HERE / 'suites'
HARNESS_KEY = pytest.StashKey()   # config.stash[HARNESS_KEY]: the running _Harness
MESSAGE_CHARS = 1500
GENERIC_FAILURE = "a check of your output failed"


class GradingError(Exception):
    """The submission could not be graded at all (never raised for bad student code)."""


# ---------------------------------------------------------------- failure messages

def failure_message(exc):
    """What a student may see about a failed test: never source, tracebacks or suite internals."""
    if isinstance(exc, StudentError):
        text = str(exc)
    elif isinstance(exc, AssertionError):
        # With assertion rewriting pytest appends '\nassert <expression>': drop it.
        text = str(exc).split('\nassert ')[0].strip()
        if text.startswith('assert '):
            text = ''
        text = text or GENERIC_FAILURE
    elif isinstance(exc, pytest.fail.Exception):
        text = str(exc) or GENERIC_FAILURE
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + ' [...]'


CAUSE_PATTERNS = (re.compile(r"Implement ([\w.]+) in scratchnn/(\w+)\.py"),
                  re.compile(r"\(at (\w+)\.py:\d+, in ([\w.]+)\)"))


def cause_of(exc, item, rubric):
    """The rubric item, other than `item`, whose code made the test fail; None
    when the failure is the item's own (or cannot be told)."""
    cause = getattr(exc, 'caused_by', None)
    if cause is None and isinstance(exc, StudentError):
        text = str(exc)
        found = CAUSE_PATTERNS[0].search(text)
        function = f"{found.group(2)}.{found.group(1)}" if found else None
        if function is None:
            found = CAUSE_PATTERNS[1].search(text)
            function = f"{found.group(1)}.{found.group(2)}" if found else None
        owners = rubric.owners(function)
        cause = None if (not owners or item in owners) else owners[0]
    return cause if cause in rubric and cause != item else None


# Failures that are student code raising (not hanging, crashing or eating memory:
# those are contained, not excused) inside a function.
EXCUSABLE_KINDS = ('exception', 'not_implemented', 'import')


def excusable(exc, caused_by):
    """Whether a failure is student code raising inside another item's
    function (`caused_by`), which its own item cannot be charged for."""
    return (caused_by is not None and isinstance(exc, StudentError)
            and exc.kind in EXCUSABLE_KINDS)


# ---------------------------------------------------------------- unwritten work

def _raises_not_implemented(statement):
    """Whether a statement is `raise NotImplementedError(...)`: the release's stub."""
    if not isinstance(statement, ast.Raise) or statement.exc is None:
        return False
    exc = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
    return isinstance(exc, ast.Name) and exc.id == 'NotImplementedError'


def unwritten_functions(submission, rubric, absent):
    """{"module.QualName"} of the graded functions not yet written: still
    raising the stub's NotImplementedError in their body, or in a module the
    submission lacks or had refused (absent: absent_modules' answer)."""
    graded = {f for item in rubric.values() for f in item.functions}
    found = {f for f in graded if f.partition('.')[0] in absent}
    for module in set(student_modules(rubric)) - set(absent):
        tree, _ = parse_module(submission.source(module))
        if tree is None:
            continue   # a module that does not parse is written, wrongly
        for qualname, node in function_nodes(tree):
            if f'{module}.{qualname}' in graded and any(map(_raises_not_implemented, node.body)):
                found.add(f'{module}.{qualname}')
    return found


def _placeholder_problem(source):
    """The message of a module that is only `raise ImportError('...')`: what
    grade-all's intake ships in place of a module it refused (None otherwise)."""
    tree, _ = parse_module(source)
    if tree is None:
        return None
    body = tree.body
    if len(body) == 1 and isinstance(body[0], ast.Raise) and isinstance(body[0].exc, ast.Call):
        call = body[0].exc
        if (isinstance(call.func, ast.Name) and call.func.id == 'ImportError' and len(call.args) == 1
                and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)):
            return call.args[0].value
    return None


def absent_modules(submission, modules):
    """{module: why it is not there, for the student} of the modules the
    submission lacks, had refused, or holds only as intake's placeholder."""
    absent = {}
    for module in modules:
        source = submission.source(module)
        why = submission.problem(module) if source is None else _placeholder_problem(source)
        if why:
            absent[module] = why
    return absent


def release_stub(module, why):
    """The release's stub of a student module, every graded function raising
    NotImplementedError with `why` (the module is missing, refused...) and the
    stub's own words, which name the function for the feedback; None where the
    grader has neither the release nor the solutions (a bare grading image)."""
    for package, stubbed in ((COURSE.release_package, True), (COURSE.solution_package, False)):
        path = package / f'{module}.py'
        if path.is_file():
            source = path.read_text()
            if not stubbed:
                source = stub_source(source, f'{COURSE.package}/{module}.py')
            reason = f"{why}, so its functions count as not written yet: "
            return source.replace('NotImplementedError("Implement ',
                                  f'NotImplementedError({reason!r} "Implement ').encode()
    return None


def with_stubs_for_missing(submission, absent):
    """The submission with the release's stub in place of every absent module
    (absent: absent_modules' answer): a module not handed in is a module not
    yet written, so it costs its own items only, and a module importing it
    still imports."""
    stubs = {m: release_stub(m, why) for m, why in absent.items()}
    stubs = {m: stub for m, stub in stubs.items() if stub is not None}
    if not stubs:
        return submission
    return Submission(sources={**submission.sources, **stubs},
                      problems={m: p for m, p in submission.problems.items() if m not in stubs},
                      notes=submission.notes)


# ---------------------------------------------------------------- the pytest plugin

class _Harness:
    """pytest plugin: provides the student to the suites, records each test's outcome."""

    def __init__(self, student, device, only_items=None, rubric=None):
        self.student, self.device, self.only_items = student, device, only_items
        self.rubric = rubric
        self.tests = {}           # nodeid -> record, in run order
        self.errors = []          # reasons the suites themselves are broken
        self.rule_violations = {}  # item -> what the student's code tried at run time

    def pytest_configure(self, config):
        config.stash[HARNESS_KEY] = self

    def pytest_collectreport(self, report):
        if report.failed:
            self.errors.append(f"{report.nodeid}: {report.longreprtext[-2000:]}")

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        keep = []
        for test in items:
            marks = [m for m in test.iter_markers('item') if m.args]
            if len(marks) != 1 or 'points' not in marks[0].kwargs:
                self.errors.append(f"{test.nodeid} needs exactly one @pytest.mark.item('<id>', points=P)")
                continue
            item, points = marks[0].args[0], marks[0].kwargs['points']
            if self.only_items is None or item in self.only_items:
                keep.append(test)
                self.tests[test.nodeid] = {'name': test.name, 'function': test.originalname,
                                           'item': item, 'points': points, 'outcome': None,
                                           'message': '', 'caused_by': None,
                                           'excusable': False}
        items[:] = keep
        if self.errors:  # do not run anything: the grade could not be right
            items[:] = []

    def pytest_runtest_setup(self, item):
        record = self.tests.get(item.nodeid)
        self.student.begin_test(item.nodeid, record['item'] if record else None)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        record = self.tests.get(item.nodeid)
        if record is None or record['outcome'] == 'failed':
            return report
        if report.failed:
            record['outcome'] = 'failed'
            exc = call.excinfo.value if call.excinfo else None
            record['message'] = failure_message(exc) if exc is not None else GENERIC_FAILURE
            record['caused_by'] = cause_of(exc, record['item'], self.rubric)
            record['excusable'] = excusable(exc, record['caused_by'])
            if isinstance(exc, StudentError) and exc.kind == 'rule':
                self.rule_violations.setdefault(record['item'], str(exc))
        elif report.skipped:
            if hasattr(report, 'wasxfail'):
                record['outcome'], record['message'] = 'failed', GENERIC_FAILURE
            else:
                record['outcome'] = 'skipped'
        elif report.when == 'call' and record['outcome'] is None:
            record['outcome'] = 'passed'
            # A suite may note how the test passed (on the student's own parts, say).
            notes = [str(v) for k, v in report.user_properties if k == 'note']
            record['message'] = failure_message(AssertionError('\n'.join(notes))) if notes else ''
        return report


def _run_suites(paths, plugin):
    """pytest over the suites (a folder, or files of it), in this process, quietly."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix='grader-pytest-') as tmp:
        ini = Path(tmp) / 'pytest.ini'
        ini.write_text("[pytest]\nmarkers =\n    item(id, points): the rubric item a test grades\n"
                       "    slow: a slow test\n")
        root = paths[0] if paths[0].is_dir() else paths[0].parent
        args = [*map(str, paths), '-c', str(ini), '--rootdir', str(root), '-p', 'no:terminal',
                '-p', 'no:cacheprovider', '-p', 'no:timeout', '-p', 'no:randomly',
                # per-test log capture and the session-end gc passes cost half a
                # second and serve no hidden suite
                '-p', 'no:logging', '-p', 'no:unraisableexception', '-p', 'no:threadexception',
                '-p', 'no:junitxml', '-p', 'no:doctest', '-p', 'no:pastebin',
                '--assert=plain', '--import-mode=importlib', '-o', 'python_files=test_*.py',
                '-W', 'ignore']
        # One thread: the suites' tensors are small, and threads spinning against the
        # student's processes on a shared machine cost far more than they give.
        import torch
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            code = pytest.main(args, plugins=[plugin])
        finally:
            torch.set_num_threads(threads)
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        plugin.errors.append(f"pytest ended with {code!r}")


# ---------------------------------------------------------------- scoring

def _round(x):
    return float(round(Fraction(x), 4))


def excuse(rubric: Rubric, tests, unwritten):
    """The recorded tests, with every failure that another item's raising code
    caused (record['excusable']) passed with a note, where the failed test's
    item has code of its own, all written, and the causing item loses points
    in another test or holds an unwritten function (`unwritten`: a stub loses
    all its points, graded in this run or not; see the module docstring)."""
    losing = ({t['item'] for t in tests if t['outcome'] == 'failed' and not t['excusable']}
              | {i for f in unwritten for i in rubric.owners(f)})   # graded in this run or not
    excused = []
    for test in tests:
        item = rubric[test['item']] if test['item'] in rubric else None
        if (test['outcome'] == 'failed' and test['excusable'] and item is not None
                and item.functions and not set(item.functions) & unwritten
                and test['caused_by'] in losing):
            test = {**test, 'outcome': 'passed', 'caused_by': None,
                    'message': f"Not charged here: {test['message']} That is the code of "
                               f"{test['caused_by']}, which loses its own points for it."}
        excused.append(test)
    return excused


def score(rubric: Rubric, tests, violations, only_items=None):
    """(items, test entries): per item {'score', 'max_score'} (and 'caused_by':
    every item whose mistake made one of its tests fail), per test a
    results.json entry (with 'caused_by' when a failed test names the item
    that caused it).

    tests: the recorded outcomes, in run order. Raises GradingError when the
    suites and the rubric disagree (a grade from them could be wrong).
    """
    unknown = sorted({t['item'] for t in tests} - set(rubric))
    if unknown:
        raise GradingError(f"tests are marked with items not in the rubric: {unknown}")
    items, entries = {}, []
    for item, spec in rubric.items():
        if only_items is not None and item not in only_items:
            continue
        mine = [t for t in tests if t['item'] == item]
        counted = [t for t in mine if t['outcome'] in ('passed', 'failed')]
        if not counted:
            raise GradingError(f"no hidden test graded item {item!r}"
                               + (" (all were skipped)" if mine else ""))
        weights = _weights(spec, counted)
        total = sum(weights.values())
        earned = Fraction(0)
        for test in mine:
            entry = {'name': test['name'], 'number': item, 'output': test['message']}
            if test['outcome'] == 'skipped':
                entry.update(score=0.0, max_score=0.0, output='skipped on this machine')
            else:
                share = spec.points * weights[id(test)] / total
                passed = test['outcome'] == 'passed' and item not in violations
                earned += share if passed else 0
                entry.update(score=_round(share if passed else 0), max_score=_round(share))
                if not passed and test.get('caused_by'):
                    entry['caused_by'] = test['caused_by']
                if item in violations:
                    entry['output'] = '\n'.join(filter(None, [violations[item], test['message']]))
            entries.append(entry)
        items[item] = {'score': _round(earned), 'max_score': _round(spec.points),
                       '_exact': earned}
        causes = sorted({e['caused_by'] for e in entries
                         if e['number'] == item and e.get('caused_by')})
        if causes:
            items[item]['caused_by'] = causes
    return items, entries


def _weights(spec, counted):
    """{id(test): weight} of the counted tests of one item: its test function's
    points, split evenly over the function's counted cases."""
    missing = sorted({t['function'] for t in counted} - set(spec.tests))
    if missing:
        raise GradingError(f"rubric [items.{spec.id}.tests] lacks {missing} "
                           f"(regenerate it: {REGENERATE})")
    cases = {}
    for t in counted:
        cases[t['function']] = cases.get(t['function'], 0) + 1
    return {id(t): spec.tests[t['function']] / cases[t['function']] for t in counted}


def check_marks(rubric: Rubric, tests, only_items=None):
    """Raise GradingError unless the collected tests' marks are the rubric's:
    every marked test in its item's table with the points of its mark, and every
    test the table names collected (else its points could never be earned)."""
    stale = f"rubric.toml disagrees with the suites' marks; regenerate it: {REGENERATE}"
    unknown = sorted({t['item'] for t in tests} - set(rubric))
    if unknown:
        raise GradingError(f"tests are marked with items not in the rubric: {unknown} ({stale})")
    for t in tests:
        want = rubric[t['item']].tests.get(t['function'])
        if want is None:
            raise GradingError(f"rubric [items.{t['item']}.tests] lacks {t['function']} ({stale})")
        try:
            agrees = Fraction(str(t['points'])) == want
        except (TypeError, ValueError):
            agrees = False
        if not agrees:
            raise GradingError(f"{t['name']} is marked with {t['points']!r} points of {t['item']}, "
                               f"the rubric gives {float(want):g} ({stale})")
    ran = {(t['item'], t['function']) for t in tests}
    for item, spec in rubric.items():
        if only_items is not None and item not in only_items:
            continue
        absent = sorted(name for name in spec.tests if (item, name) not in ran)
        if absent:
            raise GradingError(f"rubric [items.{item}.tests] names tests that do not exist: "
                               f"{absent} ({stale})")


# ---------------------------------------------------------------- the API

# Device files of the GPUs torch can use (NVIDIA, AMD's ROCm, WSL): without
# any, CUDA cannot be available, and the grader need not import torch to know.
GPU_DEVICE_FILES = ('/dev/nvidiactl', '/dev/kfd', '/dev/dxg')


def default_device():
    """'cuda' when torch can use a GPU here, else 'cpu'. Imports torch only on
    a machine with GPU device files: elsewhere the sandbox starts first."""
    if not any(os.path.exists(path) for path in GPU_DEVICE_FILES):
        return 'cpu'
    import torch
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def grade_submission(submission_dir: str | Path, *, device: str | None = None,
                     workers: int | None = None, suites: str | Path | None = None,
                     rubric: str | Path | None = None, items: Iterable[str] | None = None,
                     timeout: float | None = None, sandbox: str = 'auto',
                     suite_files: Iterable[str] | None = None) -> Results:
    """Grade one submission; returns a Gradescope results.json dict.

    Inputs:
    - submission_dir: a student's assignment folder, holding scratchnn/
    - device: where the suites run tensors ('cpu', 'cuda', ...; None: CUDA
      when present, else CPU)
    - workers: child processes started ahead of need (None: 1)
    - suites, rubric: the suites folder and rubric.toml (default: the hidden ones)
    - items: grade only these item ids (None: all)
    - timeout: default seconds per student call (None: sandbox.CALL_TIMEOUT)
    - sandbox: 'auto', 'bwrap', 'strict' or 'none' (see SandboxedStudent), or
      'inprocess' (LocalStudent: only for proving the suites on trusted code)
    - suite_files: run only these test files of the suites folder, and grade
      only the items their tests mark (None: every file, every item)

    Returns {'score', 'max_score', 'tests': [{'name', 'score', 'max_score',
    'output', 'number': item id, and 'caused_by': item id when another item's
    mistake made the test fail}], 'items': {id: {'score', 'max_score'}},
    'sandbox': 'bubblewrap' | 'none (WARNING ...)', 'output': excerpt of what
    the student's code printed}, plus 'warning' when unsandboxed and, when
    every item is graded, 'written': the written questions' points, pending
    (results.course_total adds them up).
    Raises GradingError (or FileNotFoundError) only when it cannot grade.
    """
    submission_dir = Path(submission_dir)
    suites = Path(suites) if suites else SUITES
    if not any(suites.glob('test_*.py')):
        raise GradingError(f"no hidden suites (test_*.py) in {suites}")
    try:
        the_rubric = load_rubric(rubric or RUBRIC)
    except RubricError as e:
        raise GradingError(str(e)) from None
    only_items = set(items) if items is not None else None
    if only_items is not None and only_items - set(the_rubric):
        raise GradingError(f"unknown items {sorted(only_items - set(the_rubric))}")
    try:
        submission = read_submission(submission_dir, student_modules(the_rubric))
    except SubmissionError as e:
        raise GradingError(str(e)) from None
    if submission.empty:
        raise GradingError(f"{submission_dir} has no scratchnn folder to grade")
    absent = absent_modules(submission, student_modules(the_rubric))   # once, for both below
    unwritten = unwritten_functions(submission, the_rubric, absent)
    submission = with_stubs_for_missing(submission, absent)
    device = device or default_device()
    options = {'device': device, 'spares': 1 if workers is None else workers, 'sandbox': sandbox,
               'item_time_budgets': {item: spec.time_budget for item, spec in the_rubric.items()
                                     if spec.time_budget is not None}}
    if timeout is not None:
        options['timeout'] = timeout
    if sandbox == 'inprocess':
        from .isolation.executor import LocalStudent
        student = LocalStudent(submission_dir / 'scratchnn')
    else:
        student = SandboxedStudent(submission, **options)
    try:
        # after the sandbox's start: its zygote imports torch meanwhile
        violations = rules.check_submission(submission, the_rubric)
        plugin = _Harness(student, device, only_items, the_rubric)
        _run_suites([suites / f for f in suite_files] if suite_files else [suites], plugin)
        output = student.output_excerpt()
    finally:
        student.close()
    if plugin.errors:
        raise GradingError("the hidden suites are broken:\n" + '\n'.join(plugin.errors))
    tests = excuse(the_rubric, list(plugin.tests.values()), unwritten)
    for item, found in plugin.rule_violations.items():   # seen at run time (lockdown.py)
        violations.setdefault(item, f"Rule violation: {found}. {rules.RULE}; this item gets 0 points.")
    if suite_files and only_items is None:
        only_items = {t['item'] for t in tests}
    check_marks(the_rubric, tests, only_items)
    item_scores, entries = score(the_rubric, tests, violations, only_items)
    total = sum(v.pop('_exact') for v in item_scores.values())
    results = {'score': _round(total),
               'max_score': _round(sum(the_rubric[i].points for i in item_scores)),
               'tests': entries, 'items': item_scores, 'sandbox': student.sandbox,
               'output': output}
    if only_items is None:   # the whole assignment: its written questions wait for a person
        results['written'] = pending_written(the_rubric)
    if student.warning:
        results['warning'] = student.warning
    return clean_tree(results)   # the messages and output of student code, as data
