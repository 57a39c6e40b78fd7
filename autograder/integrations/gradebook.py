"""Scores into an nbgrader gradebook, on any database nbgrader accepts.

    url = db_url('gradebook.db')                 # a path: SQLite; a URL passes through
    record_scores(url, {student: results}, load_rubric())

Each graded item's score becomes the auto_score of the grade cell of the
same id, exactly where `nbgrader autograde` would put it, so `nbgrader
export` and formgrader see it. nbgrader's Gradebook finds or creates each
student, submission and grade: one row per student and item however often a
student is graded. The URL is any SQLAlchemy URL (sqlite:///..., and
postgresql://user@host/db with the psycopg2 driver of requirements.txt), the
same one nbgrader takes as `--db` or `c.CourseDirectory.db_url`.
"""
import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from ..course import COURSE

ASSIGNMENT = COURSE.assignment
COURSE_ID = COURSE.assignment          # c.CourseDirectory.course_id in nbgrader_config.py
RELEASE = COURSE.release
# nbgrader's default with CourseDirectory.root = '.': gradebook.db in the course root
DEFAULT_DB_URL = f'sqlite:///{COURSE.root / "gradebook.db"}'


class GradebookError(Exception):
    """The gradebook cannot be reached or does not fit the rubric."""


def db_url(value):
    """An SQLAlchemy URL from --db-url: a URL ('scheme://...') as it is, a path as SQLite."""
    value = str(value)
    if '://' in value:
        return value
    return f'sqlite:///{Path(value).expanduser().resolve()}'


def redacted(url):
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return '<an unparsable URL>'


@contextmanager
def venv_on_path():
    """Put this interpreter's bin folder first on PATH: nbgrader runs the
    `alembic` command of its environment when it creates a gradebook, which a
    bare `.venv/bin/python` (no activated venv) would not find."""
    old = os.environ.get('PATH', '')
    os.environ['PATH'] = os.pathsep.join([str(Path(sys.executable).parent), old])
    try:
        yield
    finally:
        os.environ['PATH'] = old


@contextmanager
def open_gradebook(url):
    """nbgrader's Gradebook at url; GradebookError with a one-line reason when
    it cannot be opened (no driver, no server, no such database)."""
    import sqlalchemy
    from nbgrader.api import Gradebook
    try:
        with venv_on_path():
            gb = Gradebook(url, course_id=COURSE_ID)
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, OSError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GradebookError(f"cannot open the gradebook {redacted(url)}: {reason}") from None
    with gb:
        yield gb


def record_notebooks(url, paths):
    """Record the released notebooks at `paths` (the assignment, each notebook
    and its cells, points included) in the gradebook at url, exactly as
    `nbgrader generate_assignment` records them (nbgrader's own SaveCells):
    what is there already is updated."""
    import nbformat
    from nbgrader.preprocessors import SaveCells
    with open_gradebook(url) as gb:
        gb.update_or_create_assignment(ASSIGNMENT)
    for path in paths:
        resources = {'nbgrader': {'notebook': Path(path).stem, 'assignment': ASSIGNMENT, 'db_url': url}}
        with venv_on_path():
            SaveCells().preprocess(nbformat.read(path, as_version=4), resources)


def record_release(url, notebooks_dir=RELEASE):
    """Record every notebook of the release in notebooks_dir in the gradebook
    at url (a URL or a SQLite path): what `nbgrader autograde` needs to find."""
    paths = sorted(Path(notebooks_dir).glob('*.ipynb'))
    if not paths:
        raise GradebookError(f"{notebooks_dir} holds no notebook: generate the release first "
                             f"(python -m coursekit release)")
    record_notebooks(db_url(url), paths)


def ensure_assignment(url, items, notebooks_dir=RELEASE):
    """Make sure the gradebook knows the assignment, its notebooks and their
    cells. A notebook not there yet is recorded from its released version
    (record_notebooks). Raises GradebookError when a rubric item has no grade
    cell of its points."""
    from nbgrader.api import MissingEntry

    notebooks = sorted({info.notebook for info in items.values()})
    with open_gradebook(url) as gb:
        gb.update_or_create_assignment(ASSIGNMENT)
        missing = []
        for name in notebooks:
            try:
                gb.find_notebook(Path(name).stem, ASSIGNMENT)
            except MissingEntry:
                missing.append(Path(notebooks_dir) / name)
    for path in missing:
        if not path.exists():
            raise GradebookError(f"{path} is missing: generate the release first "
                                 f"(python -m coursekit release)")
    record_notebooks(url, missing)
    with open_gradebook(url) as gb:
        for item, info in items.items():
            try:
                cell = gb.find_grade_cell(item, Path(info.notebook).stem, ASSIGNMENT)
            except MissingEntry:
                raise GradebookError(f"the gradebook has no grade cell {item!r} in "
                                     f"{info.notebook}") from None
            if cell.max_score != float(info.points):
                raise GradebookError(f"grade cell {item!r} is worth {cell.max_score:g} in the "
                                     f"gradebook but {info.points} in the rubric")


def record_scores(url, results_by_student, items, notebooks_dir=RELEASE):
    """Store every student's item scores as the auto_score of the item's grade
    cell in the gradebook at url (a URL or a SQLite path), creating the student,
    the submission and the assignment's records as needed. One transaction."""
    import sqlalchemy
    url = db_url(url)
    ensure_assignment(url, items, notebooks_dir)
    with open_gradebook(url) as gb:
        for student, results in sorted(results_by_student.items()):
            gb.update_or_create_student(student)
            with warnings.catch_warnings():
                # nbgrader's add_submission trips SQLAlchemy autoflush warnings; harmless
                warnings.simplefilter('ignore', category=sqlalchemy.exc.SAWarning)
                gb.update_or_create_submission(ASSIGNMENT, student)
            for item, info in items.items():
                grade = gb.find_grade(item, Path(info.notebook).stem, ASSIGNMENT, student)
                score = float(results['items'][item]['score'])
                grade.auto_score = min(max(score, 0.0), float(info.points))
                # as nbgrader's SaveAutoGrades: a grader's manual score wants a look
                grade.needs_manual_grade = grade.manual_score is not None
        gb.db.commit()
