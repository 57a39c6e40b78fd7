"""Grade a whole class: `python -m autograder grade-all SUBMISSIONS_DIR`.

SUBMISSIONS_DIR holds one entry per student, named by the student's id: a
folder (scratchnn/ at its top, nbgrader's nn_from_scratch/scratchnn/, the
modules themselves, or one .zip of them) or a .zip. nbgrader's `submitted`
folder is graded as it is. Every entry is graded or listed with the reason
it is not (see autograder/isolation/intake.py).

The grading runs on Dask: an embedded local cluster of --workers processes
by default, or an existing cluster with --scheduler ADDRESS (a `dask
scheduler` and its `dask worker`s, dask-jobqueue, dask-kubernetes). This
process packs each student's modules, sends one task per student, and is
the only writer of the output folder (default SUBMISSIONS_DIR/../grades):

    <student>/results.json   the harness's results (Gradescope's schema), with
                             a `grading` record: submission digest, grader
                             fingerprint per item, worker, attempts
    <student>/feedback.html  the student's feedback page
    <student>/error.txt      why the student could not be graded, if so
    scores.csv               one row per student: every item, the written questions
                             (pending), the total and its maximum, the error
    class.html               the class page (autograder/class_report.py)

(<student> is the id made a folder name that no class file can have:
results.student_dir.)

then records every graded student's item scores in the nbgrader gradebook
(--db-url, any SQLAlchemy URL; default the course's gradebook.db), once.

Faults: a worker killed mid-grade costs a retry (Dask runs the task again
elsewhere); a student whose grading fails twice is recorded with its reason
and the rest go on. Whatever else fails while handling one student
(reading the submission, planning, rendering or writing its files) is that
student's recorded reason too: scores.csv and the gradebook are always
written for everyone else. Results coming back from a worker are student
text (text.clean_tree) before anything writes them. A stopped run started
again regrades only the students without complete results for their
current submission (--force regrades).
On a cluster the sandbox fails closed: workers without working bubblewrap,
or with another version of the grader (fingerprint), refuse to grade, and
results not graded in bubblewrap are rejected.

Partial regrades: --students a,b regrades those students; --items x,y grades
only those items and merges them into the existing results (after a fix to
one hidden test: regrade that item for the whole class).

Exit status: 0 when every student was graded, 1 when some could not be (the
summary lists them), 2 when nothing could be graded at all.
"""
import argparse
import csv
import io
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .. import class_report, report, text
from ..course import COURSE
from ..results import (CLASS_FILE_SUFFIXES, ERROR_NAME, FEEDBACK_NAME, RESULTS_NAME,  # noqa: F401
                       check_results, course_total, read_results, student_dir, write_json_atomic,
                       write_text_atomic)

from ..rubric import RUBRIC, load_rubric, student_modules
from .gradebook import ASSIGNMENT, COURSE_ID, RELEASE  # noqa: F401  (for the plugin, demo, benchmark)

REPO = COURSE.root
CSV_NAME = 'scores.csv'
ATTEMPTS = 2                     # tries per student before it is recorded as failed



def default_workers():
    """Local workers by default: one per two cores (a grade keeps a harness
    process and a sandboxed child busy)."""
    return max(1, (os.cpu_count() or 2) // 2)


# -------------------------------------------------------------------- results

def merge_results(old, new, items, new_items):
    """old's results with new's scores and tests for the items new_items, in rubric order."""
    merged = dict(old)
    merged['items'] = {item: dict((new if item in new_items else old)['items'][item]) for item in items}
    tests = []
    for item in items:
        source = new if item in new_items else old
        tests += [t for t in source.get('tests', []) if t.get('number') == item]
    merged['tests'] = tests
    merged['score'] = round(sum(v['score'] for v in merged['items'].values()), 4)
    merged['max_score'] = round(sum(v['max_score'] for v in merged['items'].values()), 4)
    if new.get('sandbox') != 'bubblewrap':           # say so if either part was unsandboxed
        merged['sandbox'] = new.get('sandbox')
        if new.get('warning'):
            merged['warning'] = new['warning']
    return merged


def scores_table(results_by_student, errors, items):
    """CSV text: a row per student with each item's score, the written
    questions' ('pending': graded by hand), the total and its maximum
    (results.course_total, as nbgrader's export), and the error; every cell a
    student controls made safe (text.csv_cell)."""
    table = io.StringIO()
    writer = csv.writer(table, lineterminator='\n')
    writer.writerow(['student', *items, 'written', 'total', 'max_score', 'error'])
    for student in sorted(set(results_by_student) | set(errors)):
        results = results_by_student.get(student)
        name, error = text.csv_cell(student), text.csv_cell(errors.get(student, ''))
        if results is None:
            writer.writerow([name, *[''] * len(items), '', '', '', error])
        else:
            scores = [f"{float(results['items'][item]['score']):g}" for item in items]
            written = results.get('written')
            written = '' if not written else 'pending' if written['score'] is None else f"{written['score']:g}"
            total, max_score = course_total(results)
            writer.writerow([name, *scores, written, f'{total:g}', f'{max_score:g}', error])
    return table.getvalue()


# ---------------------------------------------------------------- the plan

@dataclass
class Job:
    """One student to grade: the packed modules, which items (None: all), how often tried."""
    student: str
    packed: dict
    digest: str
    items: list = None
    old: dict = None          # the results the new items merge into
    attempts: int = 0
    reasons: list = field(default_factory=list)


def plan(entry, old, items, fingerprint, only_items, force):
    """The Job for one intake.Entry, or None when its results are up to date.

    A student is graded in full when it has no complete results, its
    submission changed since (a different digest) or force is set without
    only_items; else only the items of only_items (all, with force) not yet
    graded by this grader (fingerprint)."""
    from ..isolation.intake import digest
    sub_digest = digest(entry.packed)
    grading = (old or {}).get('grading') or {}
    if old is None or grading.get('submission') != sub_digest or (force and not only_items):
        return Job(entry.student, entry.packed, sub_digest)
    if not only_items:
        return None
    stale = [i for i in items if i in only_items and (force or grading.get('items', {}).get(i) != fingerprint)]
    return Job(entry.student, entry.packed, sub_digest, items=stale, old=old) if stale else None


def stamp(results, job, outcome, items):
    """results with the `grading` record of this grade (merged for an item regrade)."""
    if job.items:
        results = merge_results(job.old, results, list(items), set(job.items))
        per_item = dict(job.old['grading']['items'])
    else:
        per_item = {}
    per_item.update({item: outcome['fingerprint'] for item in (job.items or items)})
    results['grading'] = {
        'submission': job.digest, 'fingerprint': outcome['fingerprint'], 'items': per_item,
        'worker': outcome['worker'], 'host': outcome['host'], 'attempts': job.attempts + 1,
        'seconds': round(outcome['seconds'], 1), 'cpu_seconds': round(outcome['cpu_seconds'], 1),
        'graded_at': datetime.now(timezone.utc).isoformat(timespec='seconds')}
    if job.reasons:
        results['grading']['earlier_attempts'] = list(job.reasons)
    return results


# ---------------------------------------------------------------- the command

@dataclass
class Summary:
    graded: dict         # student -> results (this run's and those kept from before)
    errors: dict         # student -> why it was not graded (this run)
    skipped: list        # students whose results were up to date
    ignored: list        # (entry name, reason) of class-folder entries that are no student
    csv_path: Path
    stale: list = field(default_factory=list)   # kept students graded by another grader version
    cpu_seconds: float = 0.0                    # of this run's grades, as the workers measured

    @property
    def newly_graded(self):
        return sorted(set(self.graded) - set(self.skipped))


class GradeAllError(Exception):
    """grade-all cannot run at all: a bad path, no workers, an unknown student or item."""


def _accept(outcome, job, fingerprint, require_sandbox, items):
    """The results of an outcome, or ValueError saying why the client rejects them."""
    results = outcome.get('results') if isinstance(outcome, dict) else None
    if outcome.get('fingerprint') != fingerprint:
        raise ValueError("graded with another version of the grader")
    results = text.clean_tree(results)   # what student code said, as it enters this process
    check_results(results, {i: items[i] for i in (job.items or items)})
    if require_sandbox and results.get('sandbox') != 'bubblewrap':
        raise ValueError(f"not graded in the bubblewrap sandbox ({results.get('sandbox')})")
    return results


def grade_all(submissions_dir, out_dir=None, *, workers=None, scheduler=None, client=None,
              students=None, items=None, force=False, db_url=None, device=None, sandbox=None,
              timeout=None, dashboard=False, progress=True, command=None, rubric=RUBRIC,
              notebooks_dir=None):
    """Grade every submission in submissions_dir (see the module docstring); returns a Summary.

    workers / scheduler / client: an embedded LocalCluster of `workers`
        processes, the cluster at `scheduler`, or an existing distributed.Client.
    students, items: lists of ids to regrade (None: everyone, every item).
    db_url: the nbgrader gradebook (SQLAlchemy URL or a path to a SQLite file),
        or None to leave every gradebook alone.
    sandbox: 'bwrap' (required, the default with a scheduler) or 'auto' (bwrap
        where it works, else process limits with a loud warning; the local default).
    timeout: hard wall-clock seconds per grade (default cluster.DEFAULT_TIMEOUT).
    command: the grade command on the workers (default `python -m autograder grade`).
    Raises GradeAllError when nothing can be graded.
    """
    from . import cluster
    from ..fingerprint import grader_fingerprint
    from ..isolation.intake import NotGradable, scan_class

    sandbox = sandbox or ('bwrap' if scheduler else 'auto')
    if scheduler and sandbox != 'bwrap':
        raise GradeAllError("on a cluster the sandbox is required: --sandbox auto is for local grading only")
    require_sandbox = sandbox == 'bwrap'
    timeout = timeout or cluster.DEFAULT_TIMEOUT
    rubric = load_rubric(rubric)
    modules = student_modules(rubric)
    if items is not None:
        unknown = sorted(set(items) - set(rubric))
        if unknown:
            raise GradeAllError(f"unknown items {', '.join(unknown)} (the rubric has "
                                f"{', '.join(rubric)})")
    submissions_dir = Path(submissions_dir)
    out_dir = Path(out_dir) if out_dir else submissions_dir.resolve().parent / 'grades'
    say = print if progress else (lambda *a, **k: None)

    say(f"reading {submissions_dir} ...", flush=True)
    try:
        entries, ignored = scan_class(submissions_dir, modules, exclude=[out_dir])
    except NotGradable as e:
        raise GradeAllError(str(e)) from None
    if students is not None:
        known = {e.student for e in entries}
        unknown = sorted(set(students) - known)
        if unknown:
            raise GradeAllError(f"no submission for {', '.join(unknown)} in {submissions_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = grader_fingerprint()

    graded, errors, skipped, jobs, stale = {}, {}, [], [], []
    for entry in entries:
        try:
            old = read_results(student_dir(out_dir, entry.student) / RESULTS_NAME, rubric)
            if entry.packed is None:
                errors[entry.student] = entry.problem
                continue
            chosen = students is None or entry.student in students
            job = plan(entry, old, list(rubric), fingerprint, items, force or students is not None) \
                if chosen else None
        except Exception as e:   # one student's fault is that student's, never the class's
            errors[entry.student] = f"could not be planned: {type(e).__name__}: {e}"
            continue
        if job is None and old is not None:
            graded[entry.student] = old
            skipped.append(entry.student)
            if set((old.get('grading') or {}).get('items', {}).values()) != {fingerprint}:
                stale.append(entry.student)
        elif job is not None:
            jobs.append(job)
        else:
            errors[entry.student] = "not graded yet (left out by --students)"
    for student, problem in list(errors.items()):
        record_error(errors, out_dir, student, problem)
    say(f"{len(entries)} students: {len(skipped)} up to date, {len(jobs)} to grade, "
        f"{len(errors)} with nothing to grade" + (f"; {len(ignored)} other entries ignored"
                                                  if ignored else ''), flush=True)
    in_full = sum(job.items is None for job in jobs)
    if items and in_full:
        say(f"{in_full} of them have no results for their current submission yet: "
            f"graded on every item, not only {', '.join(items)}", flush=True)

    cpu_seconds = 0.0
    if jobs:
        cpu_seconds = _run_jobs(jobs, graded, errors, out_dir, rubric, fingerprint, require_sandbox,
                                workers=workers or default_workers(), scheduler=scheduler,
                                client=client, device=device, timeout=timeout, dashboard=dashboard,
                                progress=progress, command=command, say=say)

    csv_path = out_dir / CSV_NAME
    write_text_atomic(csv_path, scores_table(graded, errors, list(rubric)))
    if db_url is not None and graded:
        from .gradebook import record_scores
        say(f"recording {len(graded)} students in the gradebook ...", flush=True)
        record_scores(db_url, graded, rubric, **({'notebooks_dir': notebooks_dir} if notebooks_dir else {}))
    class_report.write_class_report(out_dir, graded, errors, class_report.graded_sources(entries, graded),
                                    modules)
    return Summary(graded, errors, skipped, ignored, csv_path, stale, cpu_seconds)


def record_error(errors, out_dir, student, error):
    """Record in errors, and in the student's error.txt where it can be
    written, why the student was not graded (one clean line)."""
    errors[student] = text.line(error, text.REASON_CHARS)
    try:
        write_text_atomic(student_dir(out_dir, student) / ERROR_NAME, errors[student] + '\n')
    except OSError as e:
        errors[student] += f" (its {ERROR_NAME} could not be written: {e.strerror or e})"


def write_student(out_dir, student, results):
    """The student's feedback page, then results.json (what a resumed run
    takes as done), and no error.txt."""
    folder = student_dir(out_dir, student)
    page = report.render(results, student)
    write_text_atomic(folder / FEEDBACK_NAME, page)
    write_json_atomic(folder / RESULTS_NAME, results)
    (folder / ERROR_NAME).unlink(missing_ok=True)


def _run_jobs(jobs, graded, errors, out_dir, rubric, fingerprint, require_sandbox, *, workers,
              scheduler, client, device, timeout, dashboard, progress, command, say):
    """Grade the jobs on the cluster, writing each student's files as results
    come back; fills graded and errors. Returns the CPU seconds the grades took."""
    from contextlib import nullcontext

    from distributed import as_completed
    from tqdm import tqdm

    from . import cluster
    from ..progress import progress_bar

    where = f"the Dask cluster at {scheduler}" if scheduler else \
        "an existing Dask client" if client else f"a local Dask cluster of {workers} workers"
    say(f"starting {where} ...", flush=True)
    try:
        connection = nullcontext(client) if client else cluster.connect(scheduler, workers, dashboard)
        with connection as client:
            reports = cluster.worker_reports(client)
            usable, refused = cluster.usable_workers(reports, fingerprint, require_sandbox)
            for addr, why in sorted(refused.items()):
                say(f"worker {addr} left out: {why}", flush=True)
            if not usable:
                raise cluster.ClusterError(f"no worker can grade ({len(refused)} refused)")
            restrict = sorted(usable) if refused else None
            options = {'fingerprint': fingerprint, 'require_sandbox': require_sandbox,
                       'device': device, 'timeout': timeout, 'command': command}

            def submit(job):
                return client.submit(cluster.grade_task, job.packed, items=job.items, **options,
                                     key=f'grade-{job.student}-{job.attempts}-{os.urandom(4).hex()}',
                                     pure=False, workers=restrict, allow_other_workers=False)

            pending = {}
            for job in jobs:
                pending[submit(job)] = job
            queue = as_completed(list(pending))
            cpu = 0.0
            bar = progress_bar(sys.stdout, total=len(jobs), unit='student', desc='grading',
                               disable=not progress, smoothing=0.1)

            def not_graded(job, reason):
                record_error(errors, out_dir, job.student, reason)
                tqdm.write(f"{job.student}: not graded: {errors[job.student]}", file=sys.stdout)
                if job.old is not None:
                    graded[job.student] = job.old   # its earlier grade stands
                bar.update()

            try:
                for future in queue:
                    job = pending.pop(future)
                    try:
                        outcome = future.result()
                        results = _accept(outcome, job, fingerprint, require_sandbox, rubric)
                    except cluster.WorkerRefused as e:
                        usable.discard(e.worker)
                        tqdm.write(str(e), file=sys.stdout)
                        if not usable:
                            raise cluster.ClusterError(f"no worker can grade: {e}") from None
                        restrict = sorted(usable)
                        retry = submit(job)
                        pending[retry] = job
                        queue.add(retry)
                        continue
                    except Exception as e:   # GradeFailed, a rejected result, a killed worker
                        job.attempts += 1
                        job.reasons.append(f"{type(e).__name__}: {e}")
                        if job.attempts < ATTEMPTS:
                            retry = submit(job)
                            pending[retry] = job
                            queue.add(retry)
                            continue
                        not_graded(job, "; then ".join(job.reasons))
                        continue
                    try:
                        cpu += outcome['cpu_seconds']
                        results = stamp(results, job, outcome, rubric)
                        write_student(out_dir, job.student, results)
                    except Exception as e:   # its page or files: this student's fault only
                        not_graded(job, f"its results could not be written: {type(e).__name__}: {e}")
                        continue
                    graded[job.student] = results
                    bar.update()
            finally:
                bar.close()
                for future in pending:
                    future.cancel()
            return cpu
    except cluster.ClusterError as e:
        raise GradeAllError(str(e)) from None


def add_arguments(parser):
    """The grade-all options, on an argparse parser (a subcommand's)."""
    from .gradebook import DEFAULT_DB_URL
    parser.add_argument('submissions', type=Path, metavar='SUBMISSIONS_DIR',
                        help="one entry per student id: a folder (scratchnn/, "
                             "nn_from_scratch/scratchnn/ or the modules) or a .zip")
    where = parser.add_mutually_exclusive_group()
    where.add_argument('--workers', type=int, default=None,
                       help=f'local Dask worker processes (default {default_workers()}: one per two cores)')
    where.add_argument('--scheduler', default=None, metavar='ADDRESS',
                       help='grade on the Dask cluster of this scheduler (e.g. tcp://head:8786); '
                            'the sandbox is then required on every worker')
    parser.add_argument('--out', type=Path, default=None,
                        help='output folder (default SUBMISSIONS_DIR/../grades)')
    parser.add_argument('--students', default=None, metavar='ID,ID,...',
                        help='regrade only these students')
    parser.add_argument('--items', default=None, metavar='ID,ID,...',
                        help='grade only these rubric items and merge them into the existing results')
    parser.add_argument('--force', action='store_true', help='regrade students whose results are up to date')
    parser.add_argument('--db-url', default=DEFAULT_DB_URL, metavar='URL',
                        help='nbgrader gradebook to record scores in: an SQLAlchemy URL '
                             '(sqlite:///gradebook.db, postgresql://user@host/db) or a SQLite '
                             f'file (default {DEFAULT_DB_URL})')
    parser.add_argument('--no-db', action='store_true', help='do not touch any gradebook')
    parser.add_argument('--device', default=None, help='device for the hidden suites (default: CUDA when present)')
    parser.add_argument('--sandbox', choices=['auto', 'bwrap'], default=None,
                        help='bwrap: refuse to grade without bubblewrap (the default, and the only '
                             'choice, with --scheduler); auto: fall back to process limits')
    parser.add_argument('--timeout', type=float, default=None, metavar='SECONDS',
                        help='hard wall-clock limit per submission (default 1800)')
    parser.add_argument('--dashboard', action='store_true',
                        help="serve the local Dask cluster's dashboard on port 8787")
    parser.add_argument('--grade-command', default=None, help=argparse.SUPPRESS)
    return parser


def _ids(text):
    return [x.strip() for x in text.split(',') if x.strip()] if text else None


def run(args):
    """Run grade-all from parsed arguments; returns the exit status."""
    from .gradebook import GradebookError
    try:
        summary = grade_all(
            args.submissions, args.out, workers=args.workers, scheduler=args.scheduler,
            students=_ids(args.students), items=_ids(args.items), force=args.force,
            db_url=None if args.no_db else args.db_url, device=args.device, sandbox=args.sandbox,
            timeout=args.timeout, dashboard=args.dashboard,
            command=args.grade_command.split() if args.grade_command else None)
    except (GradeAllError, GradebookError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nstopped: the students graded so far are kept; run the same command again "
              "to grade the others", file=sys.stderr)
        return 130
    print(f"graded {len(summary.newly_graded)}, kept {len(summary.skipped)} up to date, "
          f"failed {len(summary.errors)}; scores in {summary.csv_path}")
    for name, reason in summary.ignored:
        print(f"  ignored {name}: {reason}")
    if summary.stale:
        print(f"  note: {len(summary.stale)} students kept results from another version of the "
              f"grader (suites, rubric or torch changed): --force regrades everyone, --items "
              f"the items you changed")
    for student, error in sorted(summary.errors.items()):
        print(f"  {student}: NOT GRADED: {error}")
    if not summary.graded:
        return 2
    return 1 if summary.errors else 0


def main(argv=None):
    parser = add_arguments(argparse.ArgumentParser(prog='python -m autograder grade-all',
                                                   description=__doc__.split('\n')[0]))
    return run(parser.parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
