"""How long grading takes: the trusted harness against plain nbgrader.

    python benchmarks/bench_grading.py [--students 4] [--skip-stock]

On the same complete submissions (copies of the reference solution with the
released notebooks), it measures:

1. grade_submission on one submission (seconds);
2. `grade-all` throughput at 1 and 2 workers (submissions per minute);
3. `nbgrader autograde` with the course config (HarnessGrades: scores from
   the harness, no notebook executed), per submission;
4. `nbgrader autograde` with nbgrader's stock preprocessors (Execute: every
   notebook run top to bottom in a kernel, training cells included), per
   submission; the slowest, skip it with --skip-stock.

It prints a table; it takes several minutes. Not a test: CI does not run it.

    python benchmarks/bench_grading.py --cluster [--students 4]

measures grade-all on Dask instead (bench_cluster below): CPU seconds per
submission, class throughput with 1, 2 and 4 local Dask workers against the
old process pool (grade_submission in a ProcessPoolExecutor, what grade-all
did before Dask), and projects from the measured CPU seconds the wall time
of a class of 200 on one 2-core machine and of 1000 on a 32-worker cluster.
"""
import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder import grade_all as ga  # noqa: E402

SOLUTIONS = REPO / 'solutions' / ga.ASSIGNMENT
IGNORE = shutil.ignore_patterns('__pycache__', '*.pyc', '.ipynb_checkpoints', '*.pt')
STOCK_AUTOGRADE = """
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (Execute, IgnorePattern, LimitOutput, SaveAutoGrades,
                                    AssignLatePenalties, CheckCellMetadata)
c.Autograde.autograde_preprocessors = [Execute, IgnorePattern, ClearMetadataPreprocessor,
                                       LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                       CheckCellMetadata]
"""


def make_course(root, students, stock=False):
    """An nbgrader course at root/course with `students` complete submissions."""
    course = root / 'course'
    shutil.copytree(SOLUTIONS, course / 'solutions' / ga.ASSIGNMENT, ignore=IGNORE)
    (course / 'nbgrader_config.py').write_text(
        f"c = get_config()\nload_subconfig({str(REPO / 'nbgrader_config.py')!r})\n"
        f"c.CourseDirectory.root = {str(course)!r}\n" + (STOCK_AUTOGRADE if stock else ''))
    nbgrader(course, 'generate_assignment', ga.ASSIGNMENT, '--force')
    for i in range(students):
        folder = course / 'submitted' / f'student{i:02d}' / ga.ASSIGNMENT
        shutil.copytree(ga.RELEASE, folder, ignore=IGNORE)
        shutil.rmtree(folder / 'scratchnn')
        shutil.copytree(SOLUTIONS / 'scratchnn', folder / 'scratchnn', ignore=IGNORE)
    return course


def nbgrader(course, *args):
    """Run an nbgrader command in the course; seconds taken."""
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ['PATH']]))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, '-m', 'nbgrader', *args], cwd=course, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise RuntimeError(f"nbgrader {' '.join(args)} failed")
    return seconds


def total_score(course, student):
    from nbgrader.api import Gradebook
    with Gradebook(f'sqlite:///{course / "gradebook.db"}', course_id=ga.COURSE_ID) as gb:
        return gb.find_submission(ga.ASSIGNMENT, student).code_score


def bench_one(folder):
    """Seconds for grade_submission on one submission, and its score."""
    grade = ga.load_grader(ga.DEFAULT_GRADER)
    start = time.perf_counter()
    results = grade(folder)
    return time.perf_counter() - start, results['score']


def bench_grade_all(submissions, workers, out):
    """Submissions per minute of grade-all with `workers` workers."""
    start = time.perf_counter()
    summary = ga.grade_all(submissions, out, workers=workers, force=True, db_url=None, progress=False)
    seconds = time.perf_counter() - start
    if summary.errors:
        raise RuntimeError(f"grade-all failed on {summary.errors}")
    return seconds, len(summary.graded)


# ---------------------------------------------------------------- grade-all on Dask

def _old_pool_grade(folder):
    """What one process of the old grade-all pool did for a submission."""
    from autograder.harness import grade_submission
    return grade_submission(folder)['score']


def bench_old_pool(submitted, workers):
    """(wall seconds, CPU seconds, submissions) of the old grade-all: a spawn
    ProcessPoolExecutor calling grade_submission in its processes."""
    import threading
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from autograder.cluster import POLL, CpuMeter
    folders = sorted(p / ga.ASSIGNMENT for p in Path(submitted).iterdir())
    meter, done = CpuMeter(os.getpid()), threading.Event()

    def sample():   # the pool's processes and their sandboxed children, as grade-all counts them
        while not done.wait(POLL):
            meter.sample()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context('spawn')) as pool:
        list(pool.map(_old_pool_grade, folders))
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    meter.seen.pop(os.getpid(), None)                 # this process is not grading
    return seconds, meter.seconds, len(folders)


def bench_dask(submitted, workers, out):
    """(wall seconds, CPU seconds as the workers measured them, submissions) of
    grade-all on an embedded Dask cluster of `workers` processes."""
    start = time.perf_counter()
    summary = ga.grade_all(submitted, out, workers=workers, force=True, db_url=None, progress=False)
    seconds = time.perf_counter() - start
    if summary.errors:
        raise RuntimeError(f"grade-all failed on {summary.errors}")
    return seconds, summary.cpu_seconds, len(summary.newly_graded)


def cluster_projection(cpu_per_submission, students, workers, cores_per_worker=1):
    """Projected wall seconds of a class from the CPU seconds one submission
    costs: a grade runs its harness and its sandboxed child one after the
    other, so a worker with a core of its own grades one submission in about
    its CPU seconds; the class takes ceil(students / workers) such rounds, or
    all its CPU seconds spread over every core, whichever is longer."""
    rounds = math.ceil(students / workers) * cpu_per_submission
    cpu_bound = students * cpu_per_submission / (workers * cores_per_worker)
    return max(rounds, cpu_bound)


PROJECTIONS = [(200, 2, 1, 'one 2-core machine, 2 workers'),
               (1000, 32, 1, 'a 32-worker cluster, a core each')]


def bench_cluster(students):
    """The --cluster table: the old pool against Dask at 1, 2 and 4 workers, and projections."""
    rows = []
    with tempfile.TemporaryDirectory(prefix='bench-cluster-') as tmp:
        submitted = Path(tmp) / 'submitted'
        for i in range(students):
            folder = submitted / f'student{i:02d}' / ga.ASSIGNMENT
            shutil.copytree(SOLUTIONS / 'scratchnn', folder / 'scratchnn', ignore=IGNORE)
        for workers in (1, 2, 4):
            rows.append((f'old pool, {workers} processes', *bench_old_pool(submitted, workers)))
            rows.append((f'grade-all on Dask, {workers} workers',
                         *bench_dask(submitted, workers, Path(tmp) / f'grades{workers}')))
    print()
    print(f"{'what':36} {'wall s':>8} {'CPU s':>8} {'subs':>5} {'CPU s/sub':>10} {'subs/min':>9}")
    for what, seconds, cpu, n in rows:
        print(f"{what:36} {seconds:8.1f} {cpu:8.1f} {n:5d} {cpu / n:10.1f} {60 * n / seconds:9.2f}")
    dask_rows = [r for r in rows if 'Dask' in r[0]]
    cpu_per_sub = sum(r[2] for r in dask_rows) / sum(r[3] for r in dask_rows)
    best = max(r[3] / r[1] for r in dask_rows)                 # submissions per wall second
    print()
    print(f"measured: {cpu_per_sub:.1f} CPU s per submission on Dask (all runs), "
          f"best throughput {60 * best:.2f} submissions/min, on {os.cpu_count()} CPUs")
    for class_size, workers, cores_per_worker, where in PROJECTIONS:
        seconds = cluster_projection(cpu_per_sub, class_size, workers, cores_per_worker)
        print(f"projected from the CPU seconds: {class_size} students on {where}: "
              f"{seconds / 60:.0f} min")
    print(f"at this run's best measured throughput, 200 students here would take "
          f"{200 / best / 60:.0f} min")
    print("Indicative only: measured on a machine shared with other work (wall times suffer "
          "most); the projections assume dedicated cores and the CPU seconds measured here.")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--students', type=int, default=4, help='submissions to grade (default 4)')
    parser.add_argument('--skip-stock', action='store_true', help="skip stock nbgrader (runs the notebooks)")
    parser.add_argument('--cluster', action='store_true',
                        help='measure grade-all on Dask against the old pool instead (bench_cluster)')
    args = parser.parse_args(argv)
    if args.cluster:
        bench_cluster(args.students)
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix='bench-grading-') as tmp:
        tmp = Path(tmp)
        course = make_course(tmp / 'harness', args.students)
        submitted = course / 'submitted'
        seconds, score = bench_one(submitted / 'student00' / ga.ASSIGNMENT)
        rows.append(('grade_submission, one submission', seconds, 1, f'score {score:g}'))
        for workers in (1, 2):
            seconds, n = bench_grade_all(submitted, workers, tmp / f'grades{workers}')
            rows.append((f'grade-all --workers {workers}', seconds, n, ''))
        seconds = nbgrader(course, 'autograde', ga.ASSIGNMENT, '--force')
        rows.append(('nbgrader autograde (course config: harness)', seconds, args.students,
                     f'score {total_score(course, "student00"):g}'))
        if not args.skip_stock:
            stock = make_course(tmp / 'stock', args.students, stock=True)
            seconds = nbgrader(stock, 'autograde', ga.ASSIGNMENT, '--force')
            rows.append(('nbgrader autograde (stock: runs notebooks)', seconds, args.students,
                         f'score {total_score(stock, "student00"):g}'))
    print(f"\n{'what':48} {'seconds':>9} {'subs':>5} {'s/sub':>7} {'subs/min':>9}  note")
    for what, seconds, n, note in rows:
        print(f"{what:48} {seconds:9.1f} {n:5d} {seconds / n:7.1f} {60 * n / seconds:9.2f}  {note}")
    print(f"\n{os.cpu_count()} CPUs; torch threads and devices as the harness chooses.")
    return 0


if __name__ == '__main__':
    sys.exit(main())
