"""grade-all's engine: Dask workers that grade one packed submission each.

    with connect(workers=2) as client: ...            # an embedded LocalCluster
    with connect(scheduler='tcp://head:8786') as client: ...
    reports = worker_reports(client)                   # {address: report}
    future = client.submit(grade_task, packed, fingerprint=..., require_sandbox=True, ...)

The client (the instructor's process) sends each worker a packed submission
(the student's modules, kilobytes) and gets back a results dict; it alone
writes files and the gradebook. On the worker, grade_task checks that the
worker grades with the client's version of the grader (the fingerprint) and,
when the sandbox is required, that bubblewrap works there; then it runs
the grader on the unpacked modules in a process of its own, killed after a
hard wall-clock limit (Dask cannot stop a running task), and killed too if
the worker dies (so a killed worker leaves nothing running). That process is
forked from the worker's warm grader (warm.py: torch and the harness loaded
once per worker), or, with command=, is that grade command started afresh.

Failures come back as exceptions: WorkerRefused (this worker must not
grade: the client leaves it out and sends the student elsewhere) and
GradeFailed (this attempt failed: the client may try once more).
"""
import json
import logging
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from ..course import COURSE
from ..fingerprint import grader_fingerprint
from ..isolation.intake import unpack

REPO = COURSE.root
DEFAULT_TIMEOUT = 1800.0    # seconds for one submission: hanging code costs its items long before
CONNECT_TIMEOUT = 30.0      # seconds to reach a scheduler
WORKER_WAIT = 120.0         # seconds to wait for a scheduler's first worker
POLL = 0.2                  # seconds between looks at the running grade
STDERR_CHARS = 600          # of the grade command's stderr in a failure message
# Starts the command with PR_SET_PDEATHSIG (Linux): the grade dies with the
# worker thread that started it, so a killed worker leaves no orphan grading.
# It exits if the worker is already gone, before exec'ing the command.
LAUNCH = ("import ctypes, os, sys\n"
          "prctl = getattr(ctypes.CDLL(None), 'prctl', None)\n"
          "prctl and prctl(1, 9)\n"
          "os.getppid() == int(sys.argv[1]) or os._exit(70)\n"
          "os.execv(sys.argv[2], sys.argv[3:])\n")
# What a Dask worker puts in its own environment for its own memory (the
# nanny's pre-spawn-environ) and the grader must not inherit: glibc trimming
# the heap back at every 64 KiB freed costs a grading 0.1-0.2 CPU-seconds of
# page faults (benchmarks/bench_grading.py).
WORKER_ONLY_ENVIRON = ('MALLOC_TRIM_THRESHOLD_',)


# The embedded cluster's settings. A task whose worker dies twice is given up
# (KilledWorker); grade-all then counts one failed attempt. A grade is a
# worker thread waiting minutes on another process: Dask's statistical
# profiler of that thread (every 10 ms), its event-loop watchdog (every 20 ms)
# and its system monitor for the dashboard (every 0.5 s) cost an idle
# two-worker cluster 6% of a core and the class as much throughput; with
# these, 1.5% (benchmarks/bench_grading.py).
LOCAL_CLUSTER_CONFIG = {
    'distributed.scheduler.allowed-failures': 1,
    'distributed.worker.profile.enabled': False,
    'distributed.admin.tick.interval': '1s',
    'distributed.admin.system-monitor.interval': '5s',
}


class ClusterError(Exception):
    """The cluster cannot grade (unreachable, no worker, every worker refused)."""


class WorkerRefused(Exception):
    """This worker must not grade: another version of the grader, or no working sandbox.
    WorkerRefused(worker address, why)."""

    @property
    def worker(self):
        return self.args[0]

    def __str__(self):
        return f"worker {self.args[0]} refuses to grade: {self.args[1]}"


class GradeFailed(Exception):
    """One attempt at grading a submission failed (timeout, crash, unreadable results)."""


# ---------------------------------------------------------------- the worker side

def worker_address():
    """This Dask worker's address ('' outside a worker)."""
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return ''


def total_memory():
    """Bytes of memory of this machine."""
    import psutil   # comes with distributed
    return psutil.virtual_memory().total


def worker_report():
    """What the client checks, and check-workers prints, about this worker."""
    from ..isolation.sandbox import bwrap_status
    works, why = bwrap_status()
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    return {'host': socket.gethostname(), 'pid': os.getpid(), 'fingerprint': grader_fingerprint(),
            'sandbox': works, 'sandbox_why': why, 'cpus': cpus, 'memory': total_memory(),
            'python': platform.python_version(), 'repo': str(REPO)}


def refusal(report, fingerprint, require_sandbox):
    """Why a worker with this report must not grade for this client, or '' when it may.
    report: worker_report()'s dict, or the exception the worker raised making it."""
    if isinstance(report, BaseException):
        return (f"it cannot run the grader ({type(report).__name__}: {report}): start it in "
                f"the course folder with PYTHONPATH set to it")
    if report['fingerprint'] != fingerprint:
        return (f"it grades with another version of the grader (fingerprint "
                f"{report['fingerprint'][:12]}, the client's is {fingerprint[:12]}): "
                f"install the same course files and torch on it")
    if require_sandbox and not report['sandbox']:
        return f"it has no working sandbox ({report['sandbox_why']})"
    return ''


def grade_arguments(folder, out, *, items, device, require_sandbox):
    """The arguments of one grade after the command: `FOLDER --json OUT ...`."""
    args = [str(folder), '--json', str(out), '--quiet',
            '--sandbox', 'bwrap' if require_sandbox else 'auto']
    if items:
        args += ['--items', ','.join(items)]
    if device:
        args += ['--device', device]
    return args


def _last_line(path, chars=STDERR_CHARS):
    """The last line a command wrote to the file at path, cut to chars."""
    lines = Path(path).read_text(errors='replace').strip().splitlines() if Path(path).exists() else []
    return lines[-1][-chars:] if lines else ''


class CpuMeter:
    """CPU seconds of a process tree, sampled: every process's own user and
    system time, as last seen. The kernel's account of waited-for children
    misses the sandboxed children that bubblewrap's namespace takes down with
    it; sampling sees them all, but for their last fraction of a POLL."""

    def __init__(self, root_pid):
        import psutil   # comes with distributed
        self.root, self.seen = psutil.Process(root_pid), {}

    def sample(self):
        import psutil
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        for proc in procs:
            try:
                times = proc.cpu_times()
                self.seen[proc.pid] = times.user + times.system
            except psutil.Error:
                pass

    @property
    def seconds(self):
        return sum(self.seen.values())


def grader_environ():
    """The environment a grading starts with: this worker's, less what Dask set for itself."""
    return {k: v for k, v in os.environ.items() if k not in WORKER_ONLY_ENVIRON}


def run_limited(args, timeout, cwd, log_dir):
    """Run args in its own session, killed (with its process group) after
    timeout seconds or when this thread's process dies. Returns (exit code,
    CPU seconds of it and its descendants (CpuMeter), stderr path); raises
    GradeFailed on timeout."""
    stdout, stderr = Path(log_dir) / 'stdout.txt', Path(log_dir) / 'stderr.txt'
    launch = [sys.executable, '-c', LAUNCH, str(os.getpid()), args[0], *args]
    if not os.path.isabs(args[0]):
        raise ValueError(f"the grade command must start with an absolute path, got {args[0]!r}")
    with open(stdout, 'wb') as out, open(stderr, 'wb') as err:
        proc = subprocess.Popen(launch, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, start_new_session=True, env=grader_environ())
    deadline, meter = time.monotonic() + timeout, CpuMeter(proc.pid)
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                return proc.returncode, max(usage.ru_utime + usage.ru_stime, meter.seconds), stderr
            meter.sample()
            if time.monotonic() > deadline:
                raise GradeFailed(f"grading took longer than {timeout:g} s and was stopped")
            time.sleep(POLL)
    finally:
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.wait4(proc.pid, 0)
            proc.returncode = -signal.SIGKILL


_THREAD = threading.local()   # this thread's WarmGrader


def warm_grader(fingerprint, where):
    """This worker thread's warm grader (warm.py), started on first use and
    again when it died or loaded another version of the grader than the
    client's. Raises GradeFailed when even a fresh one has another version."""
    from .warm import WarmGrader
    grader = getattr(_THREAD, 'grader', None)
    if grader is not None and (not grader.alive or grader.fingerprint != fingerprint):
        grader.close()
        grader = None
    if grader is None:
        grader = _THREAD.grader = WarmGrader()
    if grader.fingerprint != fingerprint:
        raise GradeFailed(f"the grader's files changed on {where} while it started")
    return grader


def grade_task(packed, *, fingerprint, require_sandbox, items=None, device=None,
               timeout=DEFAULT_TIMEOUT, command=None):
    """On a worker: grade one packed submission (see intake.pack); returns
    {'results', 'fingerprint', 'worker', 'host', 'seconds', 'cpu_seconds'}.

    Raises WorkerRefused when this worker's grader differs from the client's
    fingerprint, or require_sandbox is set and bubblewrap does not work here;
    GradeFailed when this attempt failed."""
    where = worker_address() or socket.gethostname()
    report = worker_report()
    why = refusal(report, fingerprint, require_sandbox)
    if why:
        raise WorkerRefused(where, why)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='grade-task-') as tmp:
        folder, out = unpack(packed, Path(tmp) / 'submission'), Path(tmp) / 'results.json'
        args = grade_arguments(folder, out, items=items, device=device,
                               require_sandbox=require_sandbox)
        if command:
            code, cpu, stderr = run_limited([*command, *args], timeout, cwd=REPO, log_dir=tmp)
        else:
            code, cpu, stderr = warm_grader(fingerprint, where).grade(args, timeout, log_dir=tmp)
        if code != 0:
            raise GradeFailed(f"the grade command exited with {code} on {where}: "
                              f"{_last_line(stderr) or 'no message'}")
        try:
            results = json.loads(out.read_text())
        except (OSError, ValueError) as e:
            raise GradeFailed(f"the grade command wrote no readable results on {where}: {e}") from None
    if grader_fingerprint() != fingerprint:
        raise GradeFailed(f"the grader's files changed on {where} while it graded")
    return {'results': results, 'fingerprint': fingerprint, 'worker': where, 'host': report['host'],
            'seconds': time.monotonic() - start, 'cpu_seconds': cpu}


# ---------------------------------------------------------------- the client side

@contextmanager
def connect(scheduler=None, workers=2, dashboard=False):
    """A distributed.Client: to the scheduler at `scheduler`, or to an embedded
    LocalCluster of `workers` processes with one thread each (no dashboard
    unless asked). Raises ClusterError when the scheduler cannot be reached."""
    import dask
    from distributed import Client, LocalCluster
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
        with client:
            yield client
        return
    if workers < 1:
        raise ClusterError(f"--workers must be at least 1, got {workers}")
    if dashboard:
        try:
            import bokeh  # noqa: F401
        except ImportError:
            raise ClusterError("the dashboard needs bokeh: pip install 'bokeh>=3.1'") from None
    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        # The scheduler serves HTTP (health checks) whatever the dashboard: on a
        # free port, unless the dashboard is asked for on its usual one.
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=':8787' if dashboard else ':0',
                               scheduler_kwargs={'dashboard': dashboard},
                               memory_limit=0, silence_logs=logging.CRITICAL)
        with cluster, Client(cluster) as client:
            try:
                yield client
            except BaseException:
                # Stopped (Ctrl-C) or failed mid-class: a worker still grading
                # would hold up Dask's shutdown until its grade ends (minutes);
                # its grade dies with it (PR_SET_PDEATHSIG), and nothing of it
                # was written yet.
                _kill_local_workers(cluster)
                raise


def _kill_local_workers(cluster):
    """SIGKILL the worker processes of a LocalCluster."""
    for nanny in list(cluster.workers.values()):
        process = getattr(getattr(nanny, 'process', None), 'process', None)
        if process is not None and process.pid:
            try:
                os.kill(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def scheduler_report():
    """Runs on the scheduler: proof that it can load the grader's tasks."""
    return str(REPO)


def worker_reports(client, wait=WORKER_WAIT):
    """{worker address: worker_report() or the exception it raised} of every
    worker, waiting up to `wait` seconds for the first one. Raises ClusterError
    when there is none, or when the scheduler cannot load the grader's tasks
    (it unpickles them: it needs the course's autograder package too)."""
    try:
        client.run_on_scheduler(scheduler_report)
    except Exception as e:
        raise ClusterError(f"the Dask scheduler cannot load the grader ({type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else ''}): start it in the course "
                           f"folder with PYTHONPATH set to it") from None
    try:
        client.wait_for_workers(1, timeout=wait)
    except (TimeoutError, OSError):
        raise ClusterError(f"no Dask worker joined the scheduler within {wait:g} s: start one "
                           f"with `dask worker ADDRESS --nthreads 1`") from None
    return client.run(worker_report, on_error='return')


def usable_workers(reports, fingerprint, require_sandbox):
    """({address} of the workers that may grade, {address: why not} of the others)."""
    refused = {addr: refusal(report, fingerprint, require_sandbox) for addr, report in reports.items()}
    refused = {addr: why for addr, why in refused.items() if why}
    return set(reports) - set(refused), refused


# ---------------------------------------------------------------- check-workers

def _gib(n):
    return f"{n / (1 << 30):.1f} GiB"


def format_reports(reports, fingerprint, require_sandbox=True):
    """The check-workers table: one line per worker, then what is wrong with any."""
    lines = [f"client fingerprint {fingerprint[:12]}",
             f"{'worker':<28}  {'host':<16}  {'fingerprint':<12}  {'sandbox':<10}  "
             f"{'cpus':>4}  {'memory':>9}"]
    problems = []
    for addr, report in sorted(reports.items()):
        if isinstance(report, BaseException):
            lines.append(f"{addr:<28}  {'?':<16}  {'?':<12}  {'?':<10}  {'?':>4}  {'?':>9}")
            problems.append(f"{addr} cannot grade: {refusal(report, fingerprint, require_sandbox)}")
            continue
        match = report['fingerprint'][:12] + ('' if report['fingerprint'] == fingerprint else ' !')
        sandbox = 'bubblewrap' if report['sandbox'] else 'NONE'
        lines.append(f"{addr:<28}  {report['host'][:16]:<16}  {match:<12}  {sandbox:<10}  "
                     f"{report['cpus']:>4}  {_gib(report['memory']):>9}")
        why = refusal(report, fingerprint, require_sandbox)
        if why:
            problems.append(f"{addr} cannot grade: {why}")
    return '\n'.join(lines + problems)


def check_workers(args):
    """`python -m autograder check-workers --scheduler ADDRESS`: exit 0 when every
    worker may grade, 1 when one may not, 2 when there is no cluster to check."""
    fingerprint = grader_fingerprint()
    try:
        with connect(scheduler=args.scheduler) as client:
            reports = worker_reports(client, wait=args.wait)
    except ClusterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_reports(reports, fingerprint))
    _, refused = usable_workers(reports, fingerprint, require_sandbox=True)
    print(f"{len(reports) - len(refused)} of {len(reports)} workers can grade")
    return 1 if refused else 0


def add_check_workers(subparsers):
    parser = subparsers.add_parser(
        'check-workers', help="check that a Dask cluster's workers grade with this grader",
        description="Print, for every worker of a Dask cluster, the grader fingerprint it "
                    "grades with, whether its bubblewrap sandbox works, its CPUs and memory.")
    parser.add_argument('--scheduler', required=True, metavar='ADDRESS',
                        help='the Dask scheduler, e.g. tcp://head-node:8786')
    parser.add_argument('--wait', type=float, default=30.0, metavar='SECONDS',
                        help='how long to wait for a first worker (default 30)')
    parser.set_defaults(handler=check_workers)
