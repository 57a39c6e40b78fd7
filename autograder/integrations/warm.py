"""A grader kept warm: one trusted process per grade-all worker that has
imported torch, pytest and the harness once, and forks one child per
submission to grade it.

    grader = WarmGrader()                     # starts `python -m autograder.integrations.warm`
    code, cpu, stderr = grader.grade(['SUBMISSION', '--json', 'OUT', '--quiet'],
                                     timeout=1800, log_dir=tmp)
    grader.fingerprint                        # the grader version it loaded
    grader.close()

A fresh `python -m autograder grade` per submission pays for Python, torch,
torch's lazily imported compiler (torch.optim needs it) and the digits again
each time: about 3 CPU-seconds of a grade-all worker's 8. The warm process
pays once. Each submission is still graded in a process of its own, exactly
as `python -m autograder grade ARGS` does (cli.main), so a grading that
crashes or hangs costs only that submission: the child leads its own process
group, which WarmGrader kills after the timeout; the child dies with the warm
process and the warm process with the thread that started it
(PR_SET_PDEATHSIG, as cluster.run_limited).

Fork safety: the warm process runs torch on one thread (no thread pool to
inherit half-copied) and never touches CUDA, not even to ask whether it is
there (it asks NVML: PYTORCH_NVML_BASED_CUDA_CHECK); the child that grades on
a GPU initialises CUDA itself, and the student's code runs in the sandbox's own
processes, never here.

The wire, one JSON line each way on stdin/stdout: the warm process says
{'fingerprint'} when ready; a request {'args', 'stdout', 'stderr'} gets
{'pid'} at the fork and {'code', 'cpu'} when the child has ended.
"""
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .cluster import LAUNCH, POLL, CpuMeter, GradeFailed, grader_environ
from ..course import COURSE

REPO = COURSE.root
START_TIMEOUT = 300.0   # seconds for the warm process to import and warm up


# ---------------------------------------------------------------- the warm process

def warm_up():
    """Load what every grading needs, once: torch (one thread), the harness,
    torch.optim's compiler imports, the digits, whether bubblewrap works.
    Returns the grader's fingerprint."""
    os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = '1'
    # torch.cuda.is_available() (oracles.DEVICES, harness.default_device) asks
    # the CUDA driver by default, which makes every later fork unable to use
    # CUDA ("Cannot re-initialize CUDA in forked subprocess"); asked through
    # NVML it leaves the forks free to initialise CUDA themselves.
    os.environ['PYTORCH_NVML_BASED_CUDA_CHECK'] = '1'
    import torch
    torch.set_num_threads(1)
    from .. import cli, harness  # noqa: F401
    from ..fingerprint import grader_fingerprint
    from ..isolation.child import load_torch_lazy_parts
    from ..suites import oracles
    weight = torch.zeros(2, requires_grad=True)
    weight.grad = torch.ones(2)
    torch.optim.SGD([weight], lr=0.1).step()     # imports torch.optim's compiler parts
    load_torch_lazy_parts()
    oracles.digits()
    from ..isolation.sandbox import bwrap_status
    for cuda in {False, torch.cuda.is_available()}:
        bwrap_status(cuda)    # tried once here, not in every fork
    return grader_fingerprint()


def _grade_in_child(request):
    """In the forked child: grade as `python -m autograder grade ARGS` would, then exit."""
    code = 70
    try:
        os.setsid()
        _die_with_parent()
        # A fresh process draws its own seeds for random and numpy; forks of
        # one warm process would all share its state.
        import random

        import numpy
        random.seed()
        numpy.random.seed()
        for fd, path in ((1, request['stdout']), (2, request['stderr'])):
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(out, fd)
            os.close(out)
        sys.stdout = open(1, 'w', closefd=False)
        sys.stderr = open(2, 'w', closefd=False)
        from ..cli import main
        code = main(['grade', *request['args']])
    except BaseException:   # noqa: B036  (the child must never return into the server loop)
        import traceback
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 70)


def _die_with_parent():
    """PR_SET_PDEATHSIG (Linux): SIGKILL this process when the warm process dies."""
    import ctypes
    prctl = getattr(ctypes.CDLL(None), 'prctl', None)
    if prctl:
        prctl(1, signal.SIGKILL)


def serve(requests=sys.stdin, replies=sys.stdout):
    """The warm process's loop: one grading at a time, each in a forked child."""
    say = lambda message: (replies.write(json.dumps(message) + '\n'), replies.flush())  # noqa: E731
    say({'fingerprint': warm_up()})
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _grade_in_child(request)
        say({'pid': pid})
        _, status, usage = os.wait4(pid, 0)
        say({'code': os.waitstatus_to_exitcode(status), 'cpu': usage.ru_utime + usage.ru_stime})


# ---------------------------------------------------------------- the worker's side

class WarmGrader:
    """The worker's handle on its warm process (started at construction)."""

    def __init__(self, start_timeout=START_TIMEOUT):
        launch = [sys.executable, '-c', LAUNCH, str(os.getpid()), sys.executable,
                  sys.executable, '-m', 'autograder.integrations.warm']
        self.log = tempfile.NamedTemporaryFile(prefix='warm-grader-', suffix='.log')
        self.proc = subprocess.Popen(launch, cwd=REPO, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log,
                                     start_new_session=True, bufsize=0, env=grader_environ())
        self._buffer = b''
        self.fingerprint = self._read(start_timeout, "start")['fingerprint']

    @property
    def alive(self):
        return self.proc.poll() is None

    def _read(self, timeout, what):
        """The warm process's next message; GradeFailed (and the process
        stopped) when none comes within timeout seconds. Lines are split here,
        not by a buffered reader, so that select never misses a line that
        arrived with the one before it."""
        deadline = time.monotonic() + timeout
        while b'\n' not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                self.close()
                raise GradeFailed(f"the warm grader did not {what} within {timeout:g} s")
            chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
            if not chunk:
                why = self._log_tail()
                self.close()
                raise GradeFailed(f"the warm grader died (at {what}): {why}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b'\n', 1)
        return json.loads(line)

    def _ready(self):
        return b'\n' in self._buffer or bool(select.select([self.proc.stdout], [], [], POLL)[0])

    def grade(self, args, timeout, log_dir):
        """Grade with `python -m autograder grade ARGS` semantics in a forked
        child, killed with its process group after timeout seconds. Returns
        (exit code, CPU seconds of the child and its descendants, stderr path);
        raises GradeFailed on timeout or when the warm process died."""
        stdout, stderr = Path(log_dir) / 'stdout.txt', Path(log_dir) / 'stderr.txt'
        request = {'args': [str(a) for a in args], 'stdout': str(stdout), 'stderr': str(stderr)}
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b'\n')
        except OSError:
            why = self._log_tail()
            self.close()
            raise GradeFailed(f"the warm grader died: {why}") from None
        pid = self._read(30.0, "fork a grading")['pid']
        deadline, meter = time.monotonic() + timeout, CpuMeter(pid)
        while not self._ready():
            meter.sample()
            if time.monotonic() > deadline:
                _kill_group(pid)
                self._read(30.0, "reap the stopped grading")
                raise GradeFailed(f"grading took longer than {timeout:g} s and was stopped")
        done = self._read(30.0, "report the grading")
        return done['code'], max(done['cpu'], meter.seconds), stderr

    def _log_tail(self, chars=600):
        self.log.seek(0)
        lines = self.log.read().decode(errors='replace').strip().splitlines()
        return lines[-1][-chars:] if lines else 'no message'

    def close(self):
        if self.proc.poll() is None:
            _kill_group(self.proc.pid)
            self.proc.wait()


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


if __name__ == '__main__':
    serve()
