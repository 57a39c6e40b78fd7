"""results.json: what one grading produced, its schema, its checks, and
files written whole or not at all. report, cli, grade-all, Gradescope and
the nbgrader plugin all read and write results through here.

    check_results(results, rubric_table)  # ValueError unless every item is scored within its points
    course_total(results)                 # (score, max): the autograded part and the written one
    read_results(path, rubric_table)      # the complete results at path, or None
    write_json_atomic(path, results)      write_text_atomic(path, html)
    student_dir(grades_dir, student)      # a student's folder in a grades folder
    student_of(folder)                    # the student whose folder that is

A stopped run never leaves half a file: the text goes to a temporary file
beside path, which then replaces path in one rename. The temporary file
comes from mkstemp, which creates it 0600; it is given the mode a plain
open() would have (0666 less the umask) before the rename, so that a
feedback page can be served and a grades folder shared.
"""
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict
from urllib.parse import unquote

from . import text

if TYPE_CHECKING:
    from .rubric import Rubric

RESULTS_NAME = 'results.json'
# A grades folder (grade-all's output, the class page's input): a folder per
# student holding RESULTS_NAME, FEEDBACK_NAME or ERROR_NAME, beside the files
# of the class (scores.csv, class.html, a gradebook), whose kinds a student
# folder never ends in.
FEEDBACK_NAME = 'feedback.html'  # the student's feedback page (autograder/report.py)
ERROR_NAME = 'error.txt'         # why the student could not be graded
CLASS_FILE_SUFFIXES = ('.csv', '.html', '.htm', '.json', '.txt', '.db', '.sqlite')


def student_dir(grades_dir, student):
    """The folder of a student's files in a grades folder: never one of the class's files."""
    return Path(grades_dir) / text.folder_name(student, CLASS_FILE_SUFFIXES)


def student_of(folder):
    """The student whose folder (a name, or a path) it is: student_dir's inverse."""
    return unquote(Path(folder).name, errors='surrogatepass')


class _ItemPoints(TypedDict):
    score: float
    max_score: float


class ItemScore(_ItemPoints, total=False):
    caused_by: list[str]   # every other item whose mistake cost this one points


class TestResult(TypedDict, total=False):
    name: str
    score: float
    max_score: float
    output: str          # what the student may see of a failure
    number: str          # the item id (Gradescope groups by it)
    caused_by: str       # the item whose mistake made this test fail


class WrittenScore(TypedDict):
    score: float | None  # None: pending, graded by hand (nbgrader's formgrader)
    max_score: float


class Results(TypedDict, total=False):
    """Gradescope's results.json schema, with the grader's own keys. score and
    max_score are the autograded part; `written`, the written questions of
    the rubric, graded by hand, completes the assignment's total."""
    score: float
    max_score: float
    tests: list[TestResult]
    items: dict[str, ItemScore]
    written: WrittenScore
    sandbox: str         # 'bubblewrap' or 'none (WARNING ...)'
    output: str          # an excerpt of what the student's code printed
    warning: str         # what the sandbox did not enforce
    grading: dict        # grade-all's stamp: fingerprints, worker, attempts, seconds


def current_umask():
    """The process's umask: from /proc (Linux, safe beside other threads), else
    by setting it and setting it straight back."""
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith('Umask:'):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path, text):
    """Write text to path so that path is always absent, the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.part')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:   # as pages declare; not the locale's
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path, obj):
    """Write obj as JSON to path, atomically (see write_text_atomic)."""
    write_text_atomic(path, json.dumps(obj, indent=1) + '\n')


# ---------------------------------------------------------------- totals

def pending_written(rubric: 'Rubric') -> WrittenScore:
    """The written questions of a grade that has not seen them: pending."""
    return {'score': None, 'max_score': float(rubric.written_total)}


def course_total(results: Results) -> tuple[float, float]:
    """(score, max) of the whole assignment: the autograded points plus the
    written questions' (pending ones count 0 until graded by hand). The one
    sum that `grade`, grade-all, Gradescope and the feedback pages show, and
    nbgrader's gradebook exports as raw_score and max_score."""
    written = results.get('written') or {'score': None, 'max_score': 0.0}
    return (round(results['score'] + (written['score'] or 0.0), 4),
            round(results['max_score'] + written['max_score'], 4))


# ---------------------------------------------------------------- checks

def check_results(results: Results, items: 'Rubric | Iterable[str]') -> None:
    """Raise ValueError unless results scores every item of `items` (a Rubric,
    or item ids) with a number within its points."""
    if not isinstance(results, dict) or not isinstance(results.get('items'), dict):
        raise ValueError("results have no 'items'")
    missing = [item for item in items if item not in results['items']]
    if missing:
        raise ValueError(f"results lack the items {', '.join(missing)}")
    for item in items:
        try:
            score = float(results['items'][item]['score'])
            max_score = float(results['items'][item]['max_score'])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"item {item!r} has no numeric score") from None
        points = items[item].points if isinstance(items, Mapping) else None
        if points is not None and max_score != float(points):
            raise ValueError(f"item {item!r} is worth {max_score:g} in the results "
                             f"but {points} in the rubric")
        if not 0 <= score <= max_score:
            raise ValueError(f"item {item!r} scored {score:g} of {max_score:g}")


def read_results(path, items):
    """The complete results stored at path, or None."""
    try:
        results = json.loads(Path(path).read_text())
        check_results(results, items)
        return results
    except (OSError, ValueError, KeyError, TypeError):
        return None
