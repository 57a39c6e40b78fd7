"""The rubric: every graded item, the functions it grades, its hidden tests and their points.

    rubric = load_rubric()            # autograder/rubric.toml
    rubric['linear_forward'].points   # Fraction(3)
    for item in rubric.values(): ...  # in notebook order

rubric.toml is generated, never edited: the facts live next to the hidden
tests (autograder/suites/test_*.py) and in the solution notebooks.
- A hidden test carries `@pytest.mark.item('ID', points=P)`: it scores item
  ID, and the test function earns P points of it when it passes (split evenly
  over its parametrized cases of that item).
- A suite module declares the items its tests score, once, in `ITEMS = {ID:
  Graded(functions, time_budget)}`: the student-written functions the item
  grades ("module.QualName") and the seconds its calls of student code may
  take in all (None: sandbox.ITEM_TIME_BUDGET).
- The item's notebook is the solution notebook whose autograded cell has
  grade_id ID; that cell's points must equal the item's points, the sum of
  its tests' points.
- The written questions are the solution notebooks' hand-graded answer
  cells: their points are part of the course's total (`Rubric.course_total`),
  graded by hand in nbgrader, never by the harness (`Rubric.total` is the
  autograded part).

    python -m autograder rubric           # rewrite rubric.toml from them

collects the suites (pytest --collect-only: no student code, no sandbox),
reads the solution notebooks and writes rubric.toml. The harness checks at
every grade that the marks it collects agree with the rubric it loaded.
"""
from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Optional

from .course import COURSE

HERE = Path(__file__).resolve().parent
RUBRIC = HERE / 'rubric.toml'
SUITES = HERE / 'suites'
REGENERATE = "python -m autograder rubric"


class RubricError(Exception):
    """The rubric cannot be read, or disagrees with the suites or the notebooks."""


@dataclass(frozen=True)
class Graded:
    """What a suite declares of an item it scores (see the module docstring)."""
    functions: tuple[str, ...]              # "module.QualName" of the student functions it grades
    time_budget: Optional[float] = None     # seconds for all its calls (None: the sandbox default)


@dataclass(frozen=True)
class Item:
    """One graded item: one stubbed function or class of scratchnn, or a training run."""
    id: str                                 # the grade_id of its graded cell
    notebook: str                           # the solution notebook holding that cell
    functions: tuple[str, ...]              # "module.QualName"
    tests: Mapping[str, Fraction]           # test function name -> its points
    time_budget: Optional[float] = None     # seconds (None: sandbox.ITEM_TIME_BUDGET)

    @property
    def points(self) -> Fraction:
        return sum(self.tests.values(), Fraction(0))


@dataclass(frozen=True)
class WrittenQuestion:
    """One hand-graded answer cell of a notebook: a written question."""
    id: str                                 # its grade_id
    notebook: str                           # the solution notebook holding it
    points: Fraction


@dataclass(frozen=True)
class Rubric(Mapping):
    """The autograded items, in notebook order, by id: a read-only {id: Item};
    and the written questions, graded by hand."""
    items_in_order: tuple[Item, ...]
    written: tuple[WrittenQuestion, ...] = ()
    _by_id: Mapping[str, Item] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id = {item.id: item for item in self.items_in_order}
        if len(by_id) != len(self.items_in_order):
            raise RubricError("the rubric names an item twice")
        object.__setattr__(self, '_by_id', MappingProxyType(by_id))

    def __getitem__(self, item_id: str) -> Item:
        return self._by_id[item_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    @property
    def total(self) -> Fraction:
        """The autograded points: every item's."""
        return sum((item.points for item in self.items_in_order), Fraction(0))

    @property
    def written_total(self) -> Fraction:
        """The points of the written questions, graded by hand."""
        return sum((question.points for question in self.written), Fraction(0))

    @property
    def course_total(self) -> Fraction:
        """The assignment's maximum: the autograded points and the written ones."""
        return self.total + self.written_total

    def owners(self, function: str) -> list[str]:
        """The ids of the items that grade `function` ("module.QualName")."""
        return [item.id for item in self.items_in_order if function in item.functions]


# ---------------------------------------------------------------- reading rubric.toml

def _points(value, where: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise RubricError(f"rubric: {where} must be a number of points, got {value!r}")
    return Fraction(str(value))


def _item(item_id: str, spec) -> Item:
    if not isinstance(spec, dict):
        raise RubricError(f"rubric: [items.{item_id}] must be a table")
    for key in ('notebook', 'functions', 'points', 'tests'):
        if key not in spec:
            raise RubricError(f"rubric: [items.{item_id}] has no {key}")
    functions = spec['functions']
    if not (isinstance(functions, list) and all(isinstance(f, str) and '.' in f for f in functions)):
        raise RubricError(f"rubric: the functions of {item_id} must be a list of 'module.QualName'")
    if not isinstance(spec['tests'], dict) or not spec['tests']:
        raise RubricError(f"rubric: [items.{item_id}.tests] must name the item's tests")
    tests = {name: _points(p, f"test {name} of {item_id}") for name, p in spec['tests'].items()}
    budget = spec.get('time_budget')
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))
                               or budget <= 0):
        raise RubricError(f"rubric: the time_budget of {item_id} must be a positive number of seconds")
    item = Item(item_id, str(spec['notebook']), tuple(functions), MappingProxyType(tests), budget)
    stated = _points(spec['points'], f"the points of {item_id}")
    if item.points != stated:
        raise RubricError(f"rubric: the tests of {item_id} add up to {float(item.points):g}, "
                          f"not its {float(stated):g} points (regenerate it: {REGENERATE})")
    return item


def load_rubric(path: Path | str = RUBRIC) -> Rubric:
    """The rubric at path (default: autograder/rubric.toml). Raises RubricError."""
    try:
        with open(path, 'rb') as f:
            raw = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise RubricError(f"cannot read the rubric {path}: {e}") from None
    if not isinstance(raw.get('items'), dict) or not raw['items']:
        raise RubricError(f"the rubric {path} has no [items.ID] tables")
    return Rubric(tuple(_item(item_id, spec) for item_id, spec in raw['items'].items()),
                  tuple(_written(q, spec) for q, spec in raw.get('written', {}).items()))


def _written(question_id: str, spec) -> WrittenQuestion:
    if not isinstance(spec, dict) or 'notebook' not in spec or 'points' not in spec:
        raise RubricError(f"rubric: [written.{question_id}] must name its notebook and points")
    return WrittenQuestion(question_id, str(spec['notebook']),
                           _points(spec['points'], f"the points of {question_id}"))


def student_modules(rubric: Rubric | None = None) -> list[str]:
    """The student modules the rubric's items grade, sorted: ['dropout', 'init', ...].

    The grader ships with the rubric and not with the solutions (a Gradescope
    image, a Dask node), so these are the modules its items grade; the
    project's tests check that they are exactly the modules holding a
    solution block (autograder/blocks.py)."""
    rubric = load_rubric() if rubric is None else rubric
    return sorted({f.partition('.')[0] for item in rubric.values() for f in item.functions})


# ---------------------------------------------------------------- generating it

@dataclass
class _Collected:
    """pytest plugin: the item marks and the ITEMS declarations of the collected suites."""
    tests: dict = field(default_factory=dict)      # item -> {test function: points}
    declared: dict = field(default_factory=dict)   # item -> Graded
    errors: list = field(default_factory=list)

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.errors.append(f"{report.nodeid}: {report.longreprtext[-2000:]}")

    def pytest_collection_modifyitems(self, items) -> None:
        modules = {}
        for test in items:
            modules.setdefault(test.module.__name__, test.module)
            marks = list(test.iter_markers('item'))
            if len(marks) != 1 or len(marks[0].args) != 1 or set(marks[0].kwargs) != {'points'}:
                self.errors.append(f"{test.nodeid} needs exactly one @pytest.mark.item('ID', points=P)")
                continue
            item, points = marks[0].args[0], marks[0].kwargs['points']
            try:
                points = _points(points, f"the points of {test.nodeid}")
            except RubricError as e:
                self.errors.append(str(e))
                continue
            tests = self.tests.setdefault(item, {})
            if tests.setdefault(test.originalname, points) != points:
                self.errors.append(f"{test.nodeid}: the cases of {test.originalname} give item "
                                   f"{item} different points ({float(tests[test.originalname]):g} "
                                   f"and {float(points):g})")
        for module in modules.values():
            for item, graded in getattr(module, 'ITEMS', {}).items():
                if item in self.declared:
                    self.errors.append(f"{module.__name__}: item {item} is declared twice")
                self.declared[item] = graded
        items[:] = []


def collect_suites(suites: Path = SUITES) -> tuple[dict, dict]:
    """({item: {test function: points}}, {item: Graded}) from the suites' marks and
    ITEMS, by pytest --collect-only (the suites' code is imported, no test runs)."""
    import pytest
    plugin = _Collected()
    code = pytest.main([str(suites), '--collect-only', '-p', 'no:terminal', '--rootdir', str(suites),
                        '-p', 'no:cacheprovider', '-p', 'no:randomly', '--import-mode=importlib',
                        '-o', 'python_files=test_*.py', '-o', 'addopts=', '-W', 'ignore'],
                       plugins=[plugin])
    if plugin.errors or code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise RubricError("cannot collect the hidden suites:\n" + '\n'.join(
            plugin.errors or [f"pytest ended with {code!r}"]))
    return plugin.tests, plugin.declared


def graded_cells(notebooks: Path = COURSE.solutions) -> list[tuple[str, str, Fraction]]:
    """[(grade_id, notebook name, points)] of the autograded code cells of the
    solution notebooks, in notebook order."""
    cells = []
    for path in sorted(notebooks.glob('*.ipynb')):
        for cell in json.loads(path.read_text())['cells']:
            meta = cell.get('metadata', {}).get('nbgrader', {})
            if cell['cell_type'] == 'code' and meta.get('grade') and not meta.get('solution'):
                cells.append((meta['grade_id'], path.name, _points(meta.get('points'),
                                                                   f"{path.name}: {meta['grade_id']}")))
    return cells


def written_questions(notebooks: Path = COURSE.solutions) -> tuple[WrittenQuestion, ...]:
    """The hand-graded answer cells of the solution notebooks, in notebook order."""
    questions = []
    for path in sorted(notebooks.glob('*.ipynb')):
        for cell in json.loads(path.read_text())['cells']:
            meta = cell.get('metadata', {}).get('nbgrader', {})
            if meta.get('grade') and (meta.get('solution') or meta.get('task') or cell['cell_type'] != 'code'):
                questions.append(WrittenQuestion(meta['grade_id'], path.name, _points(
                    meta.get('points'), f"{path.name}: {meta['grade_id']}")))
    return tuple(questions)


def build_rubric(suites: Path = SUITES, notebooks: Path = COURSE.solutions) -> Rubric:
    """The rubric the suites and the solution notebooks define. Raises RubricError
    when they disagree: an item without tests, declaration or graded cell."""
    tests, declared = collect_suites(suites)
    cells = graded_cells(notebooks)
    problems = [f"tests are marked with item {i}, which no suite declares in ITEMS"
                for i in tests if i not in declared]
    problems += [f"item {i} is declared but no test is marked with it" for i in declared
                 if i not in tests]
    seen = {}
    for item_id, notebook, _ in cells:
        if item_id in seen:
            problems.append(f"item {item_id} has graded cells in {seen[item_id]} and {notebook}")
        seen[item_id] = notebook
    problems += [f"item {i} has no autograded cell (grade_id '{i}') in the solution notebooks"
                 for i in declared if i not in seen]
    problems += [f"the graded cell {i} of {nb} has no hidden tests" for i, nb, _ in cells
                 if i not in declared]
    if problems:
        raise RubricError("the suites and the notebooks disagree:\n" + '\n'.join(problems))
    return Rubric(tuple(Item(i, notebook, tuple(declared[i].functions),
                             MappingProxyType(tests[i]), declared[i].time_budget)
                        for i, notebook, _ in cells), written_questions(notebooks))


HEADER = """\
# GENERATED by `{command}` from the hidden suites and the solution
# notebooks: do not edit. Change the facts where they live, then regenerate:
# - points: @pytest.mark.item('ID', points=P) on each hidden test
#   (autograder/suites/test_*.py); a test function earns P points of item ID
#   when it passes (split evenly over its parametrized cases of that item);
# - functions and time_budget: the ITEMS declaration of the suite module;
# - notebook: the solution notebook whose autograded cell has grade_id ID
#   (that cell's points must be the item's points).
#
# An item is one stubbed function or class of scratchnn (or one training run
# that uses several). `functions` are the student-written functions it grades,
# as "module.QualName"; together the items cover every solution block.
# `time_budget` (optional): wall-clock seconds the item's calls of student code
# may take in all (default: sandbox.ITEM_TIME_BUDGET, 30 s).
#
# [written.ID] are the written questions: the notebooks' hand-graded answer
# cells. Their points count in the assignment's total everywhere (nbgrader's
# gradebook, `grade`, grade-all, Gradescope, the feedback pages), pending
# until graded by hand; the harness never grades them.
#
# How autograder/harness.py scores an item (rules.py may zero it first, for a
# use of torch.nn / torch.autograd / torch.optim in its functions):
# - every hidden test carries exactly one item mark, whose points must be
#   those of [items.ID.tests] here (else the grade stops: regenerate);
# - a test function earns its points when it passes (split evenly over its
#   parametrized cases);
# - a skipped test (e.g. CUDA-only on a CPU machine) leaves the item and its
#   points spread over the item's other tests; an item left with no test, or a
#   test marked with an unknown item, stops grading with an error.
"""


def _number(x: Fraction) -> str:
    if x.denominator == 1:
        return str(x.numerator)
    text = repr(float(x))
    if Fraction(text) != x:
        raise RubricError(f"{x} points cannot be written exactly as a decimal")
    return text


def to_toml(rubric: Rubric) -> str:
    """rubric.toml's text: the header, then one [items.ID] table per item."""
    lines = [HEADER.format(command=REGENERATE)]
    for item in rubric.values():
        lines += [f"[items.{item.id}]",
                  f"notebook = {json.dumps(item.notebook)}",
                  f"functions = {json.dumps(list(item.functions))}",
                  f"points = {_number(item.points)}"]
        if item.time_budget is not None:
            lines.append(f"time_budget = {item.time_budget:g}")
        lines += ['', f"[items.{item.id}.tests]"]
        lines += [f"{name} = {_number(p)}" for name, p in item.tests.items()]
        lines.append('')
    for question in rubric.written:
        lines += [f"[written.{question.id}]", f"notebook = {json.dumps(question.notebook)}",
                  f"points = {_number(question.points)}", '']
    return '\n'.join(lines)


def write_rubric(path: Path = RUBRIC) -> Rubric:
    """Generate the rubric and write it to path (rubric.toml)."""
    rubric = build_rubric()
    Path(path).write_text(to_toml(rubric))
    return rubric
