"""How long grading takes, and what it costs in CPU: numbers, not a test.

    python benchmarks/bench_grading.py [--students 24] [--repeat 2] [--nbgrader] [--skip-stock]

It prints:
1. Start-up of the student processes, the old way and the new way, measured
   in one run: a fresh sandboxed Python per student module ('exec') against
   one preloaded zygote per submission forking a child per module ('fork').
2. One complete submission (the reference solutions) graded by
   `python -m autograder grade` (cold: a fresh Python that imports torch), and
   in a warm grader (autograder/integrations/warm.py, what each grade-all worker runs: torch
   and the harness loaded once, a fork per submission): wall seconds and CPU
   seconds (user+sys of the whole process tree: the grader, bwrap, the zygote
   and its children), best of --repeat runs.
3. Where that time goes (one in-process run): the grader's own start-up
   (imports), the sandbox start (zygote ready), each module's calls (their
   wall time as the sandbox counts it), the training jobs (whole runs, their
   calls included), the rest of the suites (oracles, comparisons, pytest)
   and scoring.
4. A class of --students submissions graded by `grade-all` (an embedded Dask
   cluster) at 1 and 2 workers, against the old grade-all (a process pool
   calling grade_submission): submissions per minute, CPU seconds per
   submission, the speed-up of 2 workers over 1, and the wall time projected
   from the measured CPU seconds for a class of 200 on one 2-core machine and
   of 1000 on a 32-worker cluster.
5. With --nbgrader: `nbgrader autograde` with the course's config (scores
   from the harness) and, unless --skip-stock, with stock nbgrader (every
   notebook executed).

CPU is read from a control group made for each measured command (cgroup v2
cpu.stat, or v1 cpuacct) where the benchmark may make one (root, or a
delegated subtree); elsewhere from getrusage of the children, which misses
processes killed before their parents reaped them (it says which).
The targets: one submission <= 5 s wall and <= 8 CPU-s on 2 cores, >= 1.8x
throughput with 2 workers. Numbers from a busy machine are upper bounds; a
slow one scales them all, which the last line (the time of a bare
`import torch`) shows.
"""
import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder.isolation import cgroups  # noqa: E402
from autograder.rubric import student_modules  # noqa: E402

ASSIGNMENT = 'nn_from_scratch'
SOLUTIONS = REPO / 'solutions' / ASSIGNMENT
RELEASE = REPO / 'assignments' / ASSIGNMENT
IGNORE = shutil.ignore_patterns('__pycache__', '*.pyc', '.ipynb_checkpoints', '*.pt')
MODULES = tuple(student_modules())


# ---------------------------------------------------------------- CPU of a process tree

class CpuMeter:
    """CPU seconds (user+sys) of everything a command starts, via a control group."""

    def __init__(self):
        self.folder, self.kind = None, None
        own = cgroups._own_paths()
        candidates = [('v2', cgroups.CGROUP_ROOT / own.get('', '/').lstrip('/')),
                      ('v2', cgroups.CGROUP_ROOT / 'unified' / own.get('', '/').lstrip('/')),
                      ('v1', cgroups.CGROUP_ROOT / 'cpuacct' / own.get('cpuacct', '/').lstrip('/'))]
        for kind, base in candidates:
            probe = 'cpu.stat' if kind == 'v2' else 'cpuacct.usage'
            if not (base / probe).exists() or not os.access(base, os.W_OK):
                continue
            folder = base / f'bench-{os.getpid()}-{len(str(base))}'
            try:
                folder.mkdir(exist_ok=True)
                (folder / 'cgroup.procs').read_text()
            except OSError:
                continue
            self.folder, self.kind = folder, kind
            break

    @property
    def how(self):
        return {'v2': 'cgroup v2 cpu.stat', 'v1': 'cgroup v1 cpuacct'}.get(
            self.kind, 'getrusage of reaped children (undercounts killed process trees)')

    def _usage(self):
        if self.kind == 'v2':
            for line in (self.folder / 'cpu.stat').read_text().splitlines():
                if line.startswith('usage_usec'):
                    return int(line.split()[1]) / 1e6
        if self.kind == 'v1':
            return int((self.folder / 'cpuacct.usage').read_text()) / 1e9
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def run(self, cmd, **kwargs):
        """(wall seconds, CPU seconds, CompletedProcess) of cmd."""
        folder = self.folder

        def join():
            if folder is not None:
                (folder / 'cgroup.procs').write_text(str(os.getpid()))

        before, start = self._usage(), time.perf_counter()
        done = subprocess.run(cmd, preexec_fn=join, capture_output=True, text=True, **kwargs)
        wall = time.perf_counter() - start
        time.sleep(0.05)   # let the last processes of the tree leave the group
        return wall, self._usage() - before, done

    def close(self):
        if self.folder is not None:
            for _ in range(100):
                try:
                    self.folder.rmdir()
                    return
                except OSError:
                    time.sleep(0.05)


# ---------------------------------------------------------------- the parts

def start_up(start, sandbox_root):
    """(seconds until all five module children answer, CPU seconds) for one start mode."""
    code = f"""
import sys, time, json
sys.path.insert(0, {str(REPO)!r})
import torch
from autograder.isolation.sandbox import SandboxedStudent
started = time.perf_counter()
with SandboxedStudent({str(sandbox_root)!r}, start={start!r}, spares=0) as student:
    for module in {MODULES!r}:
        student._child(module)
    print(json.dumps(time.perf_counter() - started))
"""
    return code


def phases(submission):
    """The in-process breakdown of one grading (a dict of seconds)."""
    code = f"""
import sys, time, json
started = time.perf_counter()
sys.path.insert(0, {str(REPO)!r})
from autograder import harness
from autograder.isolation import sandbox
imported = time.perf_counter()
made = []
real_init = sandbox.SandboxedStudent.__init__
def init(self, *args, **kwargs):
    real_init(self, *args, **kwargs)
    made.append(self)
sandbox.SandboxedStudent.__init__ = init
real_score = harness.score
scoring = []
def score(*args, **kwargs):
    begun = time.perf_counter()
    try:
        return real_score(*args, **kwargs)
    finally:
        scoring.append(time.perf_counter() - begun)
harness.score = score
from autograder.suites import training
real_train = training.train
jobs = []
def train(*args, **kwargs):
    begun = time.perf_counter()
    try:
        return real_train(*args, **kwargs)
    finally:
        jobs.append(time.perf_counter() - begun)
training.train = train
graded_from = time.perf_counter()
results = harness.grade_submission({str(submission)!r})
graded = time.perf_counter() - graded_from
student = made[0]
print(json.dumps({{'imports': imported - started, 'grading': graded,
                  'sandbox_start': student.timings['start'],
                  'modules': student.timings['modules'], 'scoring': sum(scoring),
                  'jobs': jobs,
                  'score': results['score']}}))
"""
    return code


def python(code):
    return [sys.executable, '-c', code]


def make_class(root, students):
    """`students` complete submissions (the reference solutions) under root/submitted."""
    for i in range(students):
        folder = root / 'submitted' / f'student{i:02d}' / ASSIGNMENT
        shutil.copytree(RELEASE, folder, ignore=IGNORE)
        shutil.rmtree(folder / 'scratchnn')
        shutil.copytree(SOLUTIONS / 'scratchnn', folder / 'scratchnn', ignore=IGNORE)
    return root / 'submitted'


OLD_POOL = """
import sys
sys.path.insert(0, {repo!r})
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from autograder.harness import grade_submission

def grade(folder):
    return grade_submission(folder)['score']

if __name__ == '__main__':
    folders = sorted(p / {assignment!r} for p in Path({submitted!r}).iterdir())
    with ProcessPoolExecutor({workers}, mp_context=get_context('spawn')) as pool:
        print(list(pool.map(grade, folders)))
"""


def old_pool(submitted, workers, tmp):
    """The command of the old grade-all: grade_submission in a spawn process pool."""
    script = Path(tmp) / f'old_pool_{workers}.py'
    script.write_text(OLD_POOL.format(repo=str(REPO), assignment=ASSIGNMENT,
                                      submitted=str(submitted), workers=workers))
    return [sys.executable, str(script)]


def projection(cpu_per_submission, students, workers):
    """Projected wall seconds of a class from the CPU seconds of one submission,
    on `workers` workers with a core each: ceil(students / workers) rounds of
    one submission, the grader and its sandbox taking turns on one core."""
    return math.ceil(students / workers) * cpu_per_submission


PROJECTIONS = [(200, 2, 'one 2-core machine, 2 workers'),
               (1000, 32, 'a 32-worker cluster, a core each')]


def class_rows(meter, submitted, students, tmp):
    """Section 4: grade-all on Dask against the old pool, at 1 and 2 workers."""
    rates, cpu, steady = {}, [], {}
    for workers in (1, 2):
        for engine in ('grade-all (Dask)', 'old pool'):
            out = Path(tmp) / f'grades-{workers}'
            cmd = ([sys.executable, '-m', 'autograder', 'grade-all', str(submitted), '--workers',
                    str(workers), '--out', str(out), '--force', '--no-db']
                   if engine.startswith('grade-all') else old_pool(submitted, workers, tmp))
            wall, seconds, done = meter.run(cmd, cwd=REPO)
            if done.returncode != 0:
                print(done.stdout[-1000:], done.stderr[-2000:])
                raise SystemExit(f"{engine} failed")
            rates[engine, workers] = 60 * students / wall
            if engine.startswith('grade-all'):
                cpu.append(seconds / students)
                steady[workers] = steady_rate(out, workers)
            print(f"   {engine:17} --workers {workers}: {wall:6.1f} s wall, "
                  f"{seconds / students:5.1f} CPU-s per submission, "
                  f"{rates[engine, workers]:5.2f} submissions/min")
    speedup = rates['grade-all (Dask)', 2] / rates['grade-all (Dask)', 1]
    print(f"   speed-up of grade-all with 2 workers, whole runs of {students} (the cluster's "
          f"and the warm graders' start included): {speedup:.2f}x (target >= 1.8)")
    print(f"   while every worker grades: 1 worker {steady[1]:5.2f} submissions/min, "
          f"2 workers {steady[2]:5.2f}/min: {steady[2] / steady[1]:.2f}x (target >= 1.8)")
    per_submission = min(cpu)
    for class_size, workers, where in PROJECTIONS:
        minutes = projection(per_submission, class_size, workers) / 60
        print(f"   projected from {per_submission:.1f} CPU-s per submission: {class_size} "
              f"students on {where}: {minutes:.0f} min")


def steady_rate(out, workers):
    """Submissions per minute of a grade-all run while all its workers grade:
    between the moment the last worker finished its first grade (which also
    started its warm grader) and the moment the first worker finished its
    last one (after which the others finish alone), from the times the
    results were written. It is the rate at which a large class is graded,
    whose start and finish a small class would overstate."""
    done = {}
    for path in Path(out).glob('*/results.json'):
        worker = json.loads(path.read_text())['grading']['worker']
        done.setdefault(worker, []).append(path.stat().st_mtime)
    if len(done) < workers or any(len(times) < 2 for times in done.values()):
        return float('nan')
    start = max(min(times) for times in done.values())
    end = min(max(times) for times in done.values())
    graded = sum(start < t <= end for times in done.values() for t in times)
    return 60 * graded / (end - start) if end > start else float('nan')


def nbgrader_rows(tmp, students, skip_stock):
    """Rows for `nbgrader autograde`, with the course's config and (optionally) stock."""
    stock_config = (
        "from nbconvert.preprocessors import ClearMetadataPreprocessor\n"
        "from nbgrader.preprocessors import (Execute, IgnorePattern, LimitOutput, SaveAutoGrades,\n"
        "    AssignLatePenalties, CheckCellMetadata)\n"
        "c.Autograde.autograde_preprocessors = [Execute, IgnorePattern, ClearMetadataPreprocessor,\n"
        "    LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]\n")
    rows = []
    for name, extra in [('course config: harness', '')] + ([] if skip_stock else
                                                           [('stock: runs notebooks', stock_config)]):
        course = tmp / name.split(':')[0].replace(' ', '_') / 'course'
        shutil.copytree(SOLUTIONS, course / 'solutions' / ASSIGNMENT, ignore=IGNORE)
        (course / 'nbgrader_config.py').write_text(
            f"c = get_config()\nload_subconfig({str(REPO / 'nbgrader_config.py')!r})\n"
            f"c.CourseDirectory.root = {str(course)!r}\n" + extra)
        env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent),
                                                    os.environ['PATH']]))
        subprocess.run([sys.executable, '-m', 'nbgrader', 'generate_assignment', ASSIGNMENT,
                        '--force'], cwd=course, env=env, check=True, capture_output=True)
        make_class(course, students)
        start = time.perf_counter()
        subprocess.run([sys.executable, '-m', 'nbgrader', 'autograde', ASSIGNMENT, '--force'],
                       cwd=course, env=env, check=True, capture_output=True)
        rows.append((f'nbgrader autograde ({name})', time.perf_counter() - start, students))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--students', type=int, default=24,
                        help='submissions in the class (default 24)')
    parser.add_argument('--repeat', type=int, default=2, help='runs of one submission (default 2)')
    parser.add_argument('--nbgrader', action='store_true', help='also time nbgrader autograde')
    parser.add_argument('--skip-stock', action='store_true', help="with --nbgrader: skip stock nbgrader")
    args = parser.parse_args(argv)
    meter = CpuMeter()
    try:
        with tempfile.TemporaryDirectory(prefix='bench-grading-') as tmp:
            tmp = Path(tmp)
            submitted = make_class(tmp / 'class', max(args.students, 1))
            one = submitted / 'student00' / ASSIGNMENT

            print("1. start-up of the five module processes, in one run")
            for start in ('exec', 'fork'):
                wall, cpu, done = meter.run(python(start_up(start, one)))
                ready = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
                if ready is None:
                    print(done.stderr[-2000:])
                print(f"   {start:5}: all five answering after {ready:6.2f} s; whole command "
                      f"{wall:6.2f} s wall, {cpu:6.2f} CPU-s")

            print("2. one complete submission: python -m autograder grade")
            runs = []
            for _ in range(args.repeat):
                wall, cpu, done = meter.run([sys.executable, '-m', 'autograder', 'grade', str(one),
                                             '--json', str(tmp / 'results.json')], cwd=REPO)
                if done.returncode != 0:
                    print(done.stderr[-2000:])
                    raise SystemExit("grading failed")
                score = json.loads((tmp / 'results.json').read_text())['score']
                runs.append((wall, cpu))
                print(f"   run: {wall:6.2f} s wall, {cpu:6.2f} CPU-s (score {score:g})")
            wall, cpu = min(runs)
            print(f"   best: {wall:.2f} s wall (target <= 5), {cpu:.2f} CPU-s (target <= 8)")

            print("   in a warm grader (what each grade-all worker does: torch and the harness "
                  "loaded once, a fork per submission)")
            from autograder.integrations.warm import WarmGrader
            started = time.perf_counter()
            grader = WarmGrader()
            print(f"   warm grader ready after {time.perf_counter() - started:.2f} s (once per worker)")
            runs = []
            try:
                for i in range(args.repeat):
                    began = time.perf_counter()
                    code, cpu, _ = grader.grade([str(one), '--json', str(tmp / f'warm-{i}.json'),
                                                 '--quiet'], timeout=600, log_dir=tmp)
                    wall = time.perf_counter() - began
                    if code != 0:
                        raise SystemExit("warm grading failed")
                    score = json.loads((tmp / f'warm-{i}.json').read_text())['score']
                    runs.append((wall, cpu))
                    print(f"   run: {wall:6.2f} s wall, {cpu:6.2f} CPU-s (score {score:g})")
            finally:
                grader.close()
            wall, cpu = min(runs)
            print(f"   best: {wall:.2f} s wall (target <= 5), {cpu:.2f} CPU-s (target <= 8)")

            print("3. where one grading's time goes (in-process, one run)")
            done = subprocess.run(python(phases(one)), capture_output=True, text=True, cwd=REPO)
            if done.returncode != 0:
                print(done.stderr[-2000:])
            else:
                p = json.loads(done.stdout.strip().splitlines()[-1])
                student_time = sum(p['modules'].values())
                print(f"   grader imports (harness)         {p['imports']:6.2f} s")
                print(f"   sandbox start (zygote ready)     {p['sandbox_start']:6.2f} s "
                      f"(the grader imports torch meanwhile)")
                for key, seconds in sorted(p['modules'].items()):
                    print(f"   calls to {key:22}  {seconds:6.2f} s")
                print(f"   training jobs ({len(p['jobs'])} runs)            {sum(p['jobs']):6.2f} s "
                      f"(the grader's steps and checks, their calls above included)")
                rest = p['grading'] - student_time - p['sandbox_start'] - p['scoring']
                print(f"   suites' own work (oracles, pytest) {rest:4.2f} s")
                print(f"   scoring                          {p['scoring']:6.2f} s")
                print(f"   grade_submission in all          {p['grading']:6.2f} s (score {p['score']:g})")

            print(f"4. a class of {args.students}: grade-all against the old process pool")
            class_rows(meter, submitted, args.students, tmp)

            if args.nbgrader:
                print("5. nbgrader autograde")
                for what, seconds, n in nbgrader_rows(tmp / 'nbgrader', args.students, args.skip_stock):
                    print(f"   {what}: {seconds:.1f} s, {seconds / n:.1f} s per submission")
        # Every number above scales with the machine's pace: this one compares machines.
        pace = min(meter.run(python('import torch'))[:2] for _ in range(2))
    finally:
        meter.close()
    load = os.getloadavg()
    print(f"\n{os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          f"(other work on the machine slows every number); CPU from {meter.how}.")
    print(f"This machine's pace: `python -c 'import torch'` takes {pace[0]:.2f} s wall, "
          f"{pace[1]:.2f} CPU-s (compare benchmarks from two machines by it).")
    return 0


if __name__ == '__main__':
    sys.exit(main())
