"""Grade a whole class: `python -m autograder grade-all SUBMISSIONS_DIR`.

SUBMISSIONS_DIR holds one folder per student, named by the student's id, in
either layout:

    SUBMISSIONS_DIR/<student>/scratchnn/...                   (plain folders)
    SUBMISSIONS_DIR/<student>/nn_from_scratch/scratchnn/...   (nbgrader's submitted/)

so nbgrader's `submitted` folder can be graded as it is. Each submission is
graded by the trusted harness (grade_submission) in a pool of worker
processes, `--workers` at a time, with a progress bar. The output folder
(default SUBMISSIONS_DIR/../grades) receives:

    <student>/results.json   the harness's results (Gradescope's schema)
    <student>/error.txt      why a submission could not be graded, if so
    scores.csv               one row per student: every item's score, the
                             total, and the error if any

and every graded student's item scores go into the nbgrader gradebook as the
auto_score of the item's grade cell (default: the course's gradebook.db).

A submission that cannot be graded (no scratchnn/ folder, the harness fails)
is recorded with its error and the rest go on; the exit status is non-zero
only when no submission could be graded. A run can be stopped and started
again: results.json is written atomically once a submission is done, and
a student whose complete results.json is newer than every file of the
submission is not graded again (--force regrades everyone).
"""
import argparse
import csv
import importlib
import io
import json
import os
import sys
import tempfile
import tomllib
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from . import report

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = 'nn_from_scratch'
COURSE_ID = 'nn_from_scratch'          # c.CourseDirectory.course_id in nbgrader_config.py
RUBRIC = Path(__file__).resolve().with_name('rubric.toml')
RELEASE = REPO / 'assignments' / ASSIGNMENT
DEFAULT_DB = REPO / 'gradebook.db'     # nbgrader's default: gradebook.db in the course root
DEFAULT_GRADER = 'autograder.harness:grade_submission'
RESULTS_NAME, ERROR_NAME, CSV_NAME = 'results.json', 'error.txt', 'scores.csv'
FEEDBACK_NAME = 'feedback.html'  # the student's feedback page (autograder/report.py)


def load_grader(spec):
    """The function named by 'package.module:function' (a callable passes through)."""
    if callable(spec):
        return spec
    module_name, sep, function_name = str(spec).partition(':')
    if not sep or not module_name or not function_name:
        raise ValueError(f"grader must be 'module:function', got {spec!r}")
    return getattr(importlib.import_module(module_name), function_name)


def rubric_items(path=RUBRIC):
    """{item id: {'notebook', 'functions', 'points'}} in rubric order."""
    with open(path, 'rb') as f:
        return tomllib.load(f)['items']


# ---------------------------------------------------------------- submissions

@dataclass
class Submission:
    student: str
    folder: Path        # the folder holding scratchnn/ (None when there is none)
    problem: str = ''   # why it cannot be graded, if so


def package_folder(student_dir):
    """The folder of a student's submission that holds scratchnn/, or None."""
    for folder in (student_dir, student_dir / ASSIGNMENT):
        if (folder / 'scratchnn').is_dir():
            return folder
    return None


def find_submissions(submissions_dir, exclude=()):
    """[Submission] of every student folder in submissions_dir, by student id.
    Hidden folders and the folders in `exclude` (the output folder) are skipped."""
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"{submissions_dir} is not a folder of student submissions")
    skip = {Path(p).resolve() for p in exclude}
    found = []
    for student_dir in sorted(submissions_dir.iterdir()):
        if not student_dir.is_dir() or student_dir.name.startswith('.') or student_dir.resolve() in skip:
            continue
        folder = package_folder(student_dir)
        problem = '' if folder else (f"no scratchnn/ folder in {student_dir} "
                                     f"(nor in {student_dir / ASSIGNMENT})")
        found.append(Submission(student_dir.name, folder, problem))
    return found


def latest_mtime(folder):
    """The newest modification time of any file under folder (caches ignored)."""
    times = [p.stat().st_mtime for p in Path(folder).rglob('*')
             if p.is_file() and '__pycache__' not in p.parts]
    return max(times, default=0.0)


# -------------------------------------------------------------------- results

def check_results(results, items):
    """Raise ValueError unless results scores every rubric item with a number."""
    if not isinstance(results, dict) or not isinstance(results.get('items'), dict):
        raise ValueError("results have no 'items'")
    missing = [item for item in items if item not in results['items']]
    if missing:
        raise ValueError(f"results lack the items {', '.join(missing)}")
    for item in items:
        try:
            float(results['items'][item]['score'])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"item {item!r} has no numeric score") from None


def write_text_atomic(path, text):
    """Write text to path so that path is always either absent, the old file or
    the whole new one (a stopped run never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.part')
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path, obj):
    """Write obj as JSON to path, atomically (see write_text_atomic)."""
    write_text_atomic(path, json.dumps(obj, indent=1))


def read_results(path, items):
    """The complete results stored at path, or None."""
    try:
        results = json.loads(Path(path).read_text())
        check_results(results, items)
        return results
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_done(submission, out_dir, items):
    """Whether the submission has complete results newer than all its files."""
    path = Path(out_dir) / submission.student / RESULTS_NAME
    return (submission.folder is not None and read_results(path, items) is not None
            and path.stat().st_mtime > latest_mtime(submission.folder))


def grade_one(submission, out_dir, grader, items, options):
    """Grade one submission (in a worker process) and store its results.json,
    or its error.txt. Returns (student, results or None, error message)."""
    student_out = Path(out_dir) / submission.student
    try:
        if submission.problem:
            raise ValueError(submission.problem)
        results = load_grader(grader)(submission.folder, **options)
        check_results(results, items)
        write_json_atomic(student_out / RESULTS_NAME, results)
        write_text_atomic(student_out / FEEDBACK_NAME, report.render(results, submission.student))
        (student_out / ERROR_NAME).unlink(missing_ok=True)
        return submission.student, results, ''
    except Exception as e:  # one broken submission must not stop the class
        error = f"{type(e).__name__}: {e}"
        student_out.mkdir(parents=True, exist_ok=True)
        (student_out / ERROR_NAME).write_text(error + '\n\n' + traceback.format_exc())
        return submission.student, None, error


def scores_table(results_by_student, errors, items):
    """CSV text: a row per student with each item's score, the total and the error."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator='\n')
    writer.writerow(['student', *items, 'total', 'error'])
    for student in sorted(set(results_by_student) | set(errors)):
        results = results_by_student.get(student)
        if results is None:
            writer.writerow([student, *[''] * len(items), '', errors[student]])
        else:
            scores = [float(results['items'][item]['score']) for item in items]
            writer.writerow([student, *[f'{s:g}' for s in scores], f'{sum(scores):g}', ''])
    return text.getvalue()


# ------------------------------------------------------------------ gradebook

def ensure_assignment(db_url, items, notebooks_dir=RELEASE):
    """Make sure the gradebook knows the assignment, its notebooks and their
    cells. A notebook not there yet is recorded from its released version, by
    nbgrader's own SaveCells, exactly as `nbgrader generate_assignment` records
    it. Raises ValueError when a rubric item has no grade cell of its points."""
    import nbformat
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.preprocessors import SaveCells
    # nbgrader runs its environment's `alembic` command to set up a new gradebook
    from coursekit.release import _venv_on_path

    notebooks = sorted({info['notebook'] for info in items.values()})
    with _venv_on_path(), Gradebook(db_url, course_id=COURSE_ID) as gb:
        gb.update_or_create_assignment(ASSIGNMENT)
        missing = []
        for name in notebooks:
            try:
                gb.find_notebook(Path(name).stem, ASSIGNMENT)
            except MissingEntry:
                missing.append(name)
    for name in missing:
        path = Path(notebooks_dir) / name
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: generate the release first "
                                    f"(python -m coursekit release)")
        resources = {'nbgrader': {'notebook': path.stem, 'assignment': ASSIGNMENT, 'db_url': db_url}}
        SaveCells().preprocess(nbformat.read(path, as_version=4), resources)
    with Gradebook(db_url, course_id=COURSE_ID) as gb:
        for item, info in items.items():
            try:
                cell = gb.find_grade_cell(item, Path(info['notebook']).stem, ASSIGNMENT)
            except MissingEntry:
                raise ValueError(f"the gradebook has no grade cell {item!r} in {info['notebook']}") from None
            if cell.max_score != float(info['points']):
                raise ValueError(f"grade cell {item!r} is worth {cell.max_score:g} in the gradebook "
                                 f"but {info['points']} in the rubric")


def record_gradebook(db_path, results_by_student, items, notebooks_dir=RELEASE):
    """Store every student's item scores as the auto_score of the item's grade
    cell in the nbgrader gradebook at db_path (sqlite), creating the student,
    the submission and the assignment's records as needed."""
    import sqlalchemy
    from nbgrader.api import Gradebook

    db_url = f'sqlite:///{Path(db_path).resolve()}'
    ensure_assignment(db_url, items, notebooks_dir)
    with Gradebook(db_url, course_id=COURSE_ID) as gb:
        for student, results in sorted(results_by_student.items()):
            gb.update_or_create_student(student)
            with warnings.catch_warnings():
                # nbgrader's add_submission trips SQLAlchemy autoflush warnings; harmless
                warnings.simplefilter('ignore', category=sqlalchemy.exc.SAWarning)
                gb.update_or_create_submission(ASSIGNMENT, student)
            for item, info in items.items():
                grade = gb.find_grade(item, Path(info['notebook']).stem, ASSIGNMENT, student)
                score = float(results['items'][item]['score'])
                grade.auto_score = min(max(score, 0.0), float(info['points']))
                # as nbgrader's SaveAutoGrades: a grader's manual score wants a look
                grade.needs_manual_grade = grade.manual_score is not None
            gb.db.commit()


# ---------------------------------------------------------------- the command

@dataclass
class Summary:
    graded: dict     # student -> results (this run's and those kept from before)
    errors: dict     # student -> error message
    skipped: list    # students whose results were already complete
    csv_path: Path


def grade_all(submissions_dir, out_dir=None, *, workers=1, force=False, grader=DEFAULT_GRADER,
              db=DEFAULT_DB, device=None, harness_workers=None, progress=True,
              rubric=RUBRIC, notebooks_dir=RELEASE):
    """Grade every submission in submissions_dir (see the module docstring).

    grader: 'module:function' or a picklable function, called in the workers as
        grader(folder, device=device, workers=harness_workers) -> results dict.
    db: the sqlite gradebook to record scores in, or None to leave it alone.
    Returns a Summary.
    """
    from tqdm import tqdm

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    submissions_dir = Path(submissions_dir)
    out_dir = Path(out_dir) if out_dir else submissions_dir.resolve().parent / 'grades'
    items = rubric_items(rubric)
    submissions = find_submissions(submissions_dir, exclude=[out_dir])
    if not submissions:
        raise FileNotFoundError(f"no student folders in {submissions_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)

    done = [] if force else [s for s in submissions if is_done(s, out_dir, items)]
    graded = {s.student: read_results(out_dir / s.student / RESULTS_NAME, items) for s in done}
    todo = [s for s in submissions if s.student not in graded]
    errors = {}
    print(f"{len(submissions)} submissions: {len(done)} already graded, {len(todo)} to grade "
          f"with {workers} worker{'s' * (workers > 1)}", flush=True)
    options = {'device': device, 'workers': harness_workers}
    # spawn: the workers start clean, whatever the parent has imported or threaded
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context('spawn')) as pool:
        futures = {pool.submit(grade_one, s, out_dir, grader, items, options): s.student for s in todo}
        try:
            for future in tqdm(as_completed(futures), total=len(futures), file=sys.stdout,
                               unit='submission', desc='grading', disable=not progress):
                try:
                    student, results, error = future.result()
                except Exception as e:  # the worker process itself died
                    student, results, error = futures[future], None, f"{type(e).__name__}: {e}"
                if results is None:
                    errors[student] = error
                    tqdm.write(f"{student}: not graded: {error}", file=sys.stdout)
                else:
                    graded[student] = results
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise

    csv_path = out_dir / CSV_NAME
    write_text_atomic(csv_path, scores_table(graded, errors, list(items)))
    if db is not None and graded:
        record_gradebook(db, graded, items, notebooks_dir)
    return Summary(graded, errors, [s.student for s in done], csv_path)


def add_arguments(parser):
    """The grade-all options, on an argparse parser (a subcommand's)."""
    parser.add_argument('submissions', type=Path, metavar='SUBMISSIONS_DIR',
                        help='one folder per student id, holding scratchnn/ or nn_from_scratch/scratchnn/')
    parser.add_argument('--workers', type=int, default=1, help='submissions graded at once (default 1)')
    parser.add_argument('--out', type=Path, default=None,
                        help='output folder (default SUBMISSIONS_DIR/../grades)')
    parser.add_argument('--force', action='store_true', help='regrade students already graded')
    parser.add_argument('--db', type=Path, default=DEFAULT_DB,
                        help=f'nbgrader gradebook (sqlite) to record scores in (default {DEFAULT_DB})')
    parser.add_argument('--no-db', action='store_true', help='do not touch any gradebook')
    parser.add_argument('--device', default=None, help='device for the hidden suites (default: CUDA when present)')
    parser.add_argument('--harness-workers', type=int, default=None,
                        help="the harness's workers: sandboxed child processes it starts ahead of need (default: its own, 1)")
    parser.add_argument('--grader', default=DEFAULT_GRADER, help=argparse.SUPPRESS)
    return parser


def run(args):
    """Run grade-all from parsed arguments; returns the exit status."""
    summary = grade_all(args.submissions, args.out, workers=args.workers, force=args.force,
                        grader=args.grader, db=None if args.no_db else args.db, device=args.device,
                        harness_workers=args.harness_workers)
    print(f"graded {len(summary.graded)} ({len(summary.skipped)} kept from before), "
          f"failed {len(summary.errors)}; scores in {summary.csv_path}")
    for student, error in sorted(summary.errors.items()):
        print(f"  {student}: {error}")
    return 0 if summary.graded else 1


def main(argv=None):
    parser = add_arguments(argparse.ArgumentParser(prog='python -m autograder grade-all',
                                                   description=__doc__.split('\n')[0]))
    return run(parser.parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
