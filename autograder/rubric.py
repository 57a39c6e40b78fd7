"""The rubric (rubric.toml): every graded item, what it covers and what it is
worth. The one reader of that file; see its header for what each field means.

    rubric = load_rubric()                 # {item id: Item}, in rubric order
    rubric['linear_forward']['points']     # Fraction(3)
    student_modules(rubric)                # ('dropout', 'init', 'layers', ...)

The grader ships with the rubric and not with the solutions (a Gradescope
image, a Dask node), so the student modules are those the rubric's items
grade; the project's tests check that they are exactly the modules holding
a solution block (autograder/blocks.py).
"""
import tomllib
from fractions import Fraction
from pathlib import Path
from typing import TypedDict

RUBRIC = Path(__file__).resolve().parent / 'rubric.toml'


class RubricError(Exception):
    """The rubric cannot be read, or does not add up."""


class Item(TypedDict):
    notebook: str                          # the notebook of its graded cell
    functions: list[str]                   # 'module.QualName' of the functions it grades
    points: Fraction
    tests: dict[str, Fraction] | None      # hidden test name -> points (None: even split)
    time_budget: float | None              # seconds (None: sandbox.ITEM_TIME_BUDGET)


Rubric = dict[str, Item]


def read_table(path: Path = RUBRIC) -> dict:
    """rubric.toml's [items] table as written (numbers as TOML gives them)."""
    try:
        with open(path, 'rb') as f:
            return tomllib.load(f)['items']
    except (OSError, KeyError, tomllib.TOMLDecodeError) as e:
        raise RubricError(f"cannot read the rubric {path}: {e}") from None


def load_rubric(path: Path = RUBRIC) -> Rubric:
    """The rubric, checked: exact points (Fractions) whose tests add up to
    their item, positive time budgets. Raises RubricError."""
    rubric = {}
    for item, spec in read_table(path).items():
        points = Fraction(str(spec['points']))
        tests = spec.get('tests')
        if tests is not None:
            tests = {name: Fraction(str(p)) for name, p in tests.items()}
            if sum(tests.values()) != points:
                raise RubricError(f"rubric: the tests of {item} add up to "
                                  f"{float(sum(tests.values())):g}, not its {float(points):g} points")
        budget = spec.get('time_budget')
        if budget is not None and not (isinstance(budget, (int, float)) and budget > 0):
            raise RubricError(f"rubric: the time_budget of {item} must be a positive number of seconds")
        rubric[item] = Item(notebook=spec.get('notebook', ''),
                            functions=list(spec.get('functions', [])),
                            points=points, tests=tests, time_budget=budget)
    return rubric


def student_modules(rubric: Rubric | None = None) -> list[str]:
    """The student modules the rubric's items grade, sorted: ['dropout', 'init', ...]."""
    rubric = load_rubric() if rubric is None else rubric
    return sorted({f.partition('.')[0] for item in rubric.values() for f in item['functions']})
