"""Student code in child processes: the real Student behind the hidden suites.

SandboxedStudent runs a submission in child processes (child.py) and talks
to them through protocol.py. The grader process never imports student code.

The package a child imports is assembled in a temporary folder:
- scratchnn/: the trusted given modules (TRUSTED_MODULES, from this repo's
  solutions or release), a trusted empty __init__.py, and the submission's
  five student modules (STUDENT_MODULES), each importable on its own;
- autograder/isolation/: a copy of the grader files the children run (GRADER_FILES).

How children start (start='fork', the default): one Zygote per submission,
in the sandbox, imports torch and the given modules, locks itself down and
then forks a child per student module in milliseconds (child.zygote); the
student's code is imported only in the forked children, never in the
zygote, which starts no thread before forking. Each child gets its own
channel (a socketpair end passed with SCM_RIGHTS), log file, process group,
memory limit and memory sub-group. start='exec' starts a fresh sandboxed
Python per child instead (Child; seconds each), as before the zygote.

Limits on each child: wall-clock time per request (parent side), memory
(RLIMIT_AS; RLIMIT_DATA when grading on CUDA, which reserves huge address
space), the size of any file it writes (RLIMIT_FSIZE, so its captured
stdout/stderr log is capped), no core dumps; it runs in its own session and
its whole process group is killed when it is done, hangs or crashes. Inside,
before any student code, a seccomp filter allows only the system calls it
needs and none that reaches another process (seccomp.py), and autograd and
torch's layers are locked away (lockdown.py).

One budget for the whole submission (cgroups.py), where control groups
work: every process any child starts is in one group limiting memory (RAM
files in tmpfs and memfd included), the number of processes and CPU time;
before each test, every process of the group that is not a child we
started (a background process left by student code) is killed from here.

Output: each file a child writes is capped (OUTPUT_BYTES, its log
included), and all that the submission's processes leave in the grader's
temporary folder together (SUBMISSION_OUTPUT_BYTES: every child's log and,
without bwrap, the assembled folder), checked after each request: the
request that went over fails, and the logs of the children gone are cut to
their start, so a module that dies after each call cannot fill the disk one
fresh log at a time.

Time: every request counts against its item's budget (ITEM_TIME_BUDGET,
or the item's own in item_time_budgets) and the submission's
(SUBMISSION_TIME_BUDGET), whether it times out or not; once one is spent,
further requests fail at once, saying so.

Replies are bounded before the grader uses them (protocol.bound): their
bytes, their tensors at full size (expanded views included), their
containers.

Where bubblewrap works, each child also runs in `bwrap` with every
namespace unshared (no network; with the zygote, the children of one
submission share one sandbox and PID namespace, and the seccomp filter
keeps them from signalling, limiting or starving one another), read-only
binds of only what Python and torch need, the assembled folder read-only
at /grader, a read-only root, size-capped tmpfs /tmp (its working
directory) and /dev/shm as the only writable places, and /dev/nvidia* when
present. It sees neither the
repository (solutions, hidden suites, gradebook) nor the submission folder.
Without bwrap or without cgroups, what is not enforced is said loudly in
`warning` (results.json's 'warning').

Children are keyed: one per student module (a call to 'optim.sgd' goes to
the 'optim' child), so a module that crashes, hangs or
monkeypatches torch costs only its own items. A dead child is replaced by a
fresh one for the next request; references into the dead one then fail
with StudentError('crash'). With start='exec', spare children are kept
starting ahead of need.
"""
import json
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from . import cgroups
from .child import CUDA_ENV
from ..course import COURSE
from ..rubric import student_modules
from .student import Student, StudentError
from .submission import Submission, read_submission

HERE = Path(__file__).resolve().parent
TRUSTED_PACKAGES = (COURSE.solution_package, COURSE.release_package)
TRUSTED_MODULES = COURSE.given_modules
# Given modules a child imports before it is locked down (lockdown.py): those
# that import no student module (solver imports optim, so it loads later).
PRELOADED_MODULES = ('_checks', 'device', 'gradcheck', 'conv', 'data')
STUDENT_MODULES = tuple(student_modules())   # the modules the rubric grades
GRADER_FILES = ('protocol.py', 'student.py', 'executor.py', 'child.py', 'lockdown.py', 'seccomp.py')

CALL_TIMEOUT = 20.0        # seconds per call, getattr, setattr
START_TIMEOUT = 120.0      # seconds for a child to import torch and say ready
# Wall-clock seconds that all requests of one item, and of one submission,
# may take together (every request counts, not only those that time out):
# past them, further requests fail at once. A slow or hanging function costs
# its item's points, never the class's grading time. The reference needs
# under 0.4 s for any item: 30 s leaves room for code 50 times slower; items
# that train take more (the rubric's time_budget).
ITEM_TIME_BUDGET = 30.0
SUBMISSION_TIME_BUDGET = 300.0
MEMORY_BYTES = 4 << 30     # address space (or data) limit per child
OUTPUT_BYTES = 16 << 20    # largest file a child may write (its log included)
# Bytes that all of a submission's processes together may leave in the
# grader's temporary folder: the logs of all its children (and, without
# bwrap, what they write into the assembled folder, their working directory).
# A limit per file alone would let a module that dies after each call fill
# the disk one fresh log at a time. Past it, the call that went over fails
# and the logs of the children already gone are cut to their start.
SUBMISSION_OUTPUT_BYTES = 64 << 20
KEPT_LOG_BYTES = 4096      # what stays of such a log: the start, which the feedback shows
TMP_BYTES = 64 << 20       # size of the sandbox's private /tmp, and of its /dev/shm
# One submission's control group: all its processes together.
SUBMISSION_MEMORY_BYTES = 6 << 30
SUBMISSION_PIDS = 128      # processes and threads
SUBMISSION_CPUS = 1.0      # cores
# Replies: bytes on the wire beyond their tensors (protocol.MAX_TENSOR_BYTES),
# values and nesting.
REPLY_EXTRA_BYTES = 16 << 20
MAX_REPLY_NODES = 200_000
MAX_REPLY_DEPTH = 64
IDS_PER_CHILD = 10 ** 9    # reference ids of child k are k*IDS_PER_CHILD + 1, ...
SANDBOX_ROOT = '/grader'   # where the assembled folder appears inside bwrap
PYTHON = os.path.abspath(sys.executable)   # no '..' in it: bwrap binds the venv alone
BOOT = ("import sys; sys.path.insert(0, {root!r}); "
        "from autograder.isolation.child import main; sys.exit(main())")
ZYGOTE_BOOT = ("import sys; sys.path.insert(0, {root!r}); from autograder.isolation.child import zygote; "
               "sys.exit(zygote('scratchnn', {given!r}, {trusted!r}))")


class SandboxError(Exception):
    """The sandbox itself failed (not the student's code): grading cannot go on."""


# ---------------------------------------------------------------- assembly

def trusted_package():
    """The folder of the trusted scratchnn package whose given modules we use."""
    for path in TRUSTED_PACKAGES:
        if all((path / f'{m}.py').is_file() for m in TRUSTED_MODULES):
            return path
    raise SandboxError(f"no trusted scratchnn package with {TRUSTED_MODULES} in {TRUSTED_PACKAGES}")


def assemble(submission, dest):
    """Build dest/scratchnn and dest/autograder/isolation for a child; returns dest.

    submission: a submission.Submission (the student modules, already read
    without following links). A student module it lacks or refused becomes
    one that raises ImportError saying why, which costs only that module's items.
    """
    dest = Path(dest)
    # The grader's files keep their package path (autograder.isolation), so
    # that they import each other the same way inside the sandbox as here.
    package, grader = dest / 'scratchnn', dest / 'autograder' / 'isolation'
    package.mkdir(parents=True)
    grader.mkdir(parents=True)
    source = trusted_package()
    for name in TRUSTED_MODULES:
        shutil.copyfile(source / f'{name}.py', package / f'{name}.py')
    (package / '__init__.py').write_text('"""scratchnn, assembled by the grader."""\n')
    for name in STUDENT_MODULES:
        code = submission.source(name)
        if code is None:
            code = f'raise ImportError({submission.problem(name)!r})\n'.encode()
        (package / f'{name}.py').write_bytes(code)
    for name in GRADER_FILES:
        if (HERE / name).is_file():
            shutil.copyfile(HERE / name, grader / name)
    (grader / '__init__.py').write_text('')
    (grader.parent / '__init__.py').write_text('')
    return dest


# ---------------------------------------------------------------- bubblewrap

def _python_dirs():
    """Folders the interpreter needs: its installation, the venv, site-packages."""
    import site
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
            str(Path(sys.executable).resolve().parent.parent)}
    dirs.update(site.getsitepackages())
    return sorted(d for d in dirs if os.path.isdir(d))


def _outermost(dirs):
    """dirs without those lying inside another one of them."""
    dirs = sorted(set(dirs))
    return [d for d in dirs if not any(d != o and d.startswith(o.rstrip('/') + '/') for o in dirs)]


SYSTEM_DIRS = ('/usr', '/lib', '/lib32', '/lib64', '/bin', '/sbin', '/opt/conda')
ETC_FILES = ('ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'alternatives', 'localtime',
             'passwd', 'group', 'nsswitch.conf', 'ssl/certs')


def bwrap_command(root, cuda=False):
    """The bwrap argument list (up to the command) that shows a child only what it needs.

    root: the assembled folder, bound read-only at SANDBOX_ROOT.
    """
    cmd = ['bwrap', '--unshare-all', '--die-with-parent', '--new-session',
           '--uid', '65534', '--gid', '65534', '--proc', '/proc', '--dev', '/dev']
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            cmd += ['--symlink', os.readlink(d), d]
        elif os.path.isdir(d):
            cmd += ['--ro-bind', d, d]
    for name in ETC_FILES:
        cmd += ['--ro-bind-try', f'/etc/{name}', f'/etc/{name}']
    cmd += ['--size', str(TMP_BYTES), '--tmpfs', '/tmp',
            '--size', str(TMP_BYTES), '--tmpfs', '/dev/shm']
    # Python (and a venv living inside the repository: only that path of it).
    for d in _outermost(_python_dirs()):
        if not any(d == s or d.startswith(s + '/') for s in SYSTEM_DIRS):
            cmd += ['--ro-bind', d, d]
    if cuda:
        for dev in sorted(Path('/dev').glob('nvidia*')):
            cmd += ['--dev-bind', str(dev), str(dev)]
    cmd += ['--ro-bind', str(root), SANDBOX_ROOT, '--remount-ro', '/dev', '--remount-ro', '/',
            '--chdir', '/tmp']
    return cmd


_BWRAP_STATUS = {}


def bwrap_status(cuda=False):
    """(works, why): whether bwrap can start Python here, tried once per process."""
    if cuda not in _BWRAP_STATUS:
        if shutil.which('bwrap') is None:
            _BWRAP_STATUS[cuda] = (False, "bubblewrap (bwrap) is not installed")
        else:
            with tempfile.TemporaryDirectory(prefix='grader-probe-') as root:
                cmd = bwrap_command(root, cuda) + [PYTHON, '-I', '-c', 'import sys']
                try:
                    done = subprocess.run(cmd, capture_output=True, timeout=60)
                    ok = done.returncode == 0
                    why = '' if ok else f"bwrap failed to start: {done.stderr.decode(errors='replace')[:300].strip()}"
                except (OSError, subprocess.TimeoutExpired) as e:
                    ok, why = False, f"bwrap failed to start: {e}"
            _BWRAP_STATUS[cuda] = (ok, why)
    return _BWRAP_STATUS[cuda]


def sandbox_warning(why):
    return (f"WARNING: student code ran WITHOUT the bubblewrap sandbox ({why}); only process "
            f"limits applied, so it could read the repository and reach the network. "
            f"Install bubblewrap (apt-get install -y bubblewrap) for real grading.")


def cgroup_warning(why):
    return (f"WARNING: student code ran WITHOUT a control group ({why}); memory was limited "
            f"per process only, so RAM-backed files (/dev/shm, memfd), many processes at once "
            f"and CPU burnt in the background were not bounded per submission, and processes "
            f"that left their process group were not killed between tests.")


def seccomp_warning():
    return ("WARNING: the seccomp filter could not be installed on this platform; student "
            "code could make any system call, and signal, limit or reach other processes "
            "of its user.")


# ---------------------------------------------------------------- one child

class ChildDied(Exception):
    """The child closed the channel or died; .kind and str() describe how."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


class ChildTimeout(Exception):
    pass


def _limits(memory_bytes, memory_resource, group, memory_group):
    """preexec_fn: the submission's control group (if any, with the child's own
    memory sub-group) and resource limits for the child (and bwrap in front of it)."""
    def apply():
        if group is not None:
            group.join(memory_group)
        resource.setrlimit(memory_resource, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_BYTES, OUTPUT_BYTES))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def child_env(device):
    """A small, fixed environment: nothing of the grader's leaks in."""
    env = {'PATH': '/usr/bin:/bin', 'HOME': '/tmp', 'LANG': 'C.UTF-8', 'PYTHONHASHSEED': '0',
           'PYTHONDONTWRITEBYTECODE': '1', 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1',
           'OPENBLAS_NUM_THREADS': '1', 'TQDM_DISABLE': '1', 'MPLBACKEND': 'Agg'}
    if device and str(device).startswith('cuda'):
        env[CUDA_ENV] = '1'     # the seccomp filter lets the CUDA driver work (seccomp.py)
        if 'CUDA_VISIBLE_DEVICES' in os.environ:
            env['CUDA_VISIBLE_DEVICES'] = os.environ['CUDA_VISIBLE_DEVICES']
    return env


class Child:
    """One child process and its channel. Starts at once; ready() waits for it."""

    def __init__(self, root, log_path, *, use_bwrap, device, memory_bytes, group=None):
        cuda = bool(device) and str(device).startswith('cuda')
        inner_root = SANDBOX_ROOT if use_bwrap else str(root)
        cmd = [PYTHON, '-I', '-B', '-c', BOOT.format(root=inner_root)]
        if use_bwrap:
            cmd = bwrap_command(root, cuda) + cmd
        self.log_path = Path(log_path)
        # CUDA reserves far more address space than it uses: limit data instead.
        memory_resource = resource.RLIMIT_DATA if cuda else resource.RLIMIT_AS
        with open(self.log_path, 'wb') as log:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                cwd=tempfile.gettempdir() if use_bwrap else str(root), env=child_env(device),
                start_new_session=True,
                preexec_fn=_limits(memory_bytes, memory_resource, group,
                                   group.child_memory(memory_bytes) if group else None))
        self._in, self._out = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        os.set_blocking(self._in, False)
        self._buffer = b''
        self.is_ready = False
        self.signals_confined = None
        self.pids = {self.proc.pid}   # host pids of our own processes (bwrap's too)

    def ready(self, timeout=START_TIMEOUT):
        """Wait for the child's hello; raises SandboxError if it never comes."""
        if not self.is_ready:
            try:
                hello = self._receive(timeout)
            except (ChildDied, ChildTimeout) as e:
                self.kill()
                raise SandboxError(f"a grading process failed to start ({e}); its output: "
                                   f"{self.log_tail(1000)}") from None
            self.pids = self.our_pids()   # before is_ready: bwrap's processes included
            self.is_ready = True
            self.signals_confined = hello.get('signals_confined')
        return self

    def our_pids(self):
        """Host pids of the processes that are this child (not what its code started).
        Before it is ready no student code has run in it: all below it is ours
        (bwrap's init and the Python it started)."""
        return self.pids if self.is_ready else self.pids | _descendants(self.proc.pid)

    def request(self, message, timeout):
        """The reply envelope to message; raises ChildTimeout or ChildDied."""
        # protocol imports torch: at the first message, so that the grader starts
        # the zygote before it pays for torch itself (harness.grade_submission)
        from . import protocol
        data = protocol.dumps(message)
        self._send(protocol.HEADER.pack(len(data)) + data, timeout)
        return self._receive(timeout)

    def _send(self, data, timeout):
        view = memoryview(data)
        while view:
            if not select.select([], [self._in], [], timeout)[1]:
                raise ChildTimeout()
            try:
                view = view[os.write(self._in, view):]
            except BrokenPipeError:
                raise self._died() from None
            except BlockingIOError:
                continue

    def _read_some(self, timeout):
        if not select.select([self._out], [], [], timeout)[0]:
            raise ChildTimeout()
        chunk = os.read(self._out, 1 << 20)
        if not chunk:
            raise self._died()
        self._buffer += chunk

    def _receive(self, timeout):
        """Read one message, all of it within timeout seconds."""
        from . import protocol
        max_bytes = protocol.MAX_TENSOR_BYTES + REPLY_EXTRA_BYTES
        deadline = time.monotonic() + timeout
        left = lambda: max(0.0, deadline - time.monotonic())  # noqa: E731
        while len(self._buffer) < protocol.HEADER.size:
            self._read_some(left())
        (size,) = protocol.HEADER.unpack(self._buffer[:protocol.HEADER.size])
        if size > max_bytes:
            self.kill()
            raise ChildDied('bad_output', f"sent back {size} bytes, more than the "
                                          f"limit of {max_bytes}")
        end = protocol.HEADER.size + size
        while len(self._buffer) < end:
            self._read_some(left())
        data, self._buffer = self._buffer[protocol.HEADER.size:end], self._buffer[end:]
        try:
            message = protocol.loads(data)
        except protocol.TooLarge as e:
            raise ChildDied('bad_output', f"sent back too much: {e}") from None
        except protocol.BadTensor as e:
            raise ChildDied('bad_output', f"sent back {e}") from None
        except Exception as e:  # not plain data: refused, never unpickled
            raise ChildDied('bad_output', f"sent back something other than tensors, numbers, "
                                          f"strings and containers of them ({type(e).__name__})")
        try:
            return protocol.bound(message, max_tensor_bytes=protocol.MAX_TENSOR_BYTES,
                                  max_nodes=MAX_REPLY_NODES, max_depth=MAX_REPLY_DEPTH)
        except protocol.TooLarge as e:
            self.kill()
            raise ChildDied('bad_output', f"sent back too much: {e}") from None

    def _exit_code(self):
        """The child's exit code (negative: the signal that ended it), waiting briefly."""
        try:
            return self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.returncode

    def _died(self):
        """A ChildDied saying how the child ended (waits briefly for its status)."""
        code = self._exit_code()
        self.kill()
        if code in (-signal.SIGKILL, 128 + signal.SIGKILL):
            return ChildDied('memory', "the process was killed (SIGKILL), most likely for "
                                       "using too much memory")
        if code is not None and code < 0:
            return ChildDied('crash', f"the process died of signal {signal.Signals(-code).name}")
        if code is not None and code > 128 and code - 128 in signal.valid_signals():
            return ChildDied('crash', f"the process died of signal {signal.Signals(code - 128).name}")
        return ChildDied('crash', f"the process exited (exit code {code}); did the code call "
                                  f"os._exit or exit?")

    def log_tail(self, n):
        """The last n characters the child wrote to stdout/stderr."""
        return _tail(self.log_path, n)

    def kill(self):
        """Kill the child's whole process group and reap it."""
        _kill_group(self.proc)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class Zygote:
    """The process (in bwrap, in the submission's control group) that forks the
    children: Python and torch start once per submission (child.zygote)."""

    def __init__(self, root, log_path, *, use_bwrap, device, memory_bytes, group=None):
        cuda = bool(device) and str(device).startswith('cuda')
        inner_root = SANDBOX_ROOT if use_bwrap else str(root)
        boot = ZYGOTE_BOOT.format(root=inner_root, given=PRELOADED_MODULES, trusted=TRUSTED_MODULES)
        cmd = [PYTHON, '-I', '-B', '-c', boot]
        if use_bwrap:
            cmd = bwrap_command(root, cuda) + cmd
        self.memory_resource = 'DATA' if cuda else 'AS'
        self.group, self.log_path = group, Path(log_path)
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with open(self.log_path, 'wb') as log, theirs:
            self.proc = subprocess.Popen(
                cmd, stdin=theirs.fileno(), stdout=log, stderr=log,
                cwd=tempfile.gettempdir() if use_bwrap else str(root), env=child_env(device),
                start_new_session=True,
                preexec_fn=_limits(memory_bytes, getattr(resource, f'RLIMIT_{self.memory_resource}'),
                                   group, group.child_memory(memory_bytes) if group else None))
        self.is_ready, self.pids, self.threads = False, {self.proc.pid}, None

    def _call(self, message, fds=(), timeout=START_TIMEOUT):
        """Send one control message (with fds), return the zygote's answer."""
        try:
            if fds:
                socket.send_fds(self.control, [json.dumps(message).encode()], list(fds))
            elif message is not None:
                self.control.send(json.dumps(message).encode())
            if not select.select([self.control], [], [], timeout)[0]:
                raise SandboxError(f"the grading process did not answer within {timeout:g} s")
            data = self.control.recv(1 << 16)
        except OSError as e:
            data = b''
            why = str(e)
        else:
            why = 'it closed its control channel'
        if not data:
            raise SandboxError(f"the grading process died ({why}); its output: "
                               f"{_tail(self.log_path, 1000)}")
        return json.loads(data)

    def ready(self):
        """Wait until it has imported torch and locked down; raises SandboxError if it fails."""
        if not self.is_ready:
            hello = self._call(None)
            self.threads, self.is_ready = hello.get('threads'), True
            self.pids |= _descendants(self.proc.pid)
        return self

    def fork(self, channel_fd, log_fd, memory_bytes):
        """A new child serving channel_fd, writing to log_fd: (pid inside, host pid)."""
        self.ready()
        answer = self._call({'op': 'fork', 'memory_bytes': memory_bytes,
                             'memory_resource': self.memory_resource}, fds=(channel_fd, log_fd))
        if 'error' in answer:
            raise ChildDied('crash', f"no process could be started for it ({answer['error']}): "
                                     f"the submission's processes are at their limit")
        return answer['pid'], _host_pid(self.pids, answer['pid'])

    def wait(self, pid, timeout):
        """The exit code of child pid (negative: its signal), or None if it still runs."""
        try:
            status = self._call({'op': 'wait', 'pid': pid, 'timeout': timeout},
                                timeout=timeout + 10)['status']
        except SandboxError:
            return None
        return None if status is None else os.waitstatus_to_exitcode(status)

    def modules(self):
        """The modules it has imported (student code must never be among them)."""
        return self.ready()._call({'op': 'modules'})['modules']

    def our_pids(self):
        return self.pids if self.is_ready else self.pids | _descendants(self.proc.pid)

    def kill(self):
        self.control.close()
        _kill_group(self.proc)


class ForkedChild(Child):
    """A child forked by the Zygote: same channel and limits as Child, started in milliseconds."""

    def __init__(self, zygote, log_path, *, memory_bytes, group=None):
        self.zygote, self.log_path = zygote, Path(log_path)
        ours, theirs = socket.socketpair()
        log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            self.pid, self.host_pid = zygote.fork(theirs.fileno(), log, memory_bytes)
        finally:
            theirs.close()
            os.close(log)
        if group is not None and self.host_pid is not None:
            group.move(self.host_pid, group.child_memory(memory_bytes))
        self.channel = ours
        self._in = self._out = ours.fileno()
        os.set_blocking(self._in, False)
        self._buffer = b''
        self.is_ready = False
        self.signals_confined = None
        self.pids = {self.host_pid} - {None}

    def our_pids(self):
        return self.pids

    def _exit_code(self):
        code = self.zygote.wait(self.pid, 5)
        if code is None:
            self.kill()
            code = self.zygote.wait(self.pid, 5)
        return code

    def kill(self):
        """Kill the child's whole process group (from here) and close its channel."""
        if self.host_pid is not None:
            _kill_group(self.host_pid)
        try:
            self.channel.close()
        except OSError:
            pass


def _kill_group(process):
    """SIGKILL the process group led by process (a Popen, reaped, or a host pid)."""
    pid = process if isinstance(process, int) else process.pid
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if not isinstance(process, int):
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _tail(path, n):
    """The last n characters of a log file."""
    try:
        with open(path, 'rb') as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - n))
            return f.read().decode(errors='replace')
    except OSError:
        return ''


def _host_pid(candidates_root, pid):
    """The host pid of the process whose pid in its (innermost) namespace is pid,
    looked for below the processes candidates_root."""
    for root in candidates_root:
        for candidate in _descendants(root) | {root}:
            try:
                with open(f'/proc/{candidate}/status') as f:
                    for line in f:
                        if line.startswith('NSpid:'):
                            if int(line.split()[-1]) == pid:
                                return candidate
                            break
            except (OSError, ValueError):
                continue
    return None


def _disk_bytes(path):
    """The disk space path takes (a sparse file takes only what it holds)."""
    try:
        return os.stat(path, follow_symlinks=False).st_blocks * 512
    except OSError:
        return 0


def _cut(path, size):
    """Cut the file at path to its first size bytes (if it is longer)."""
    try:
        if os.stat(path, follow_symlinks=False).st_size > size:
            os.truncate(path, size)
    except OSError:
        pass


def _folder_bytes(folder):
    """The disk space of everything in folder, links not followed."""
    total, todo = 0, [folder]
    while todo:
        try:
            with os.scandir(todo.pop()) as entries:
                for entry in entries:
                    total += _disk_bytes(entry.path)
                    if entry.is_dir(follow_symlinks=False):
                        todo.append(entry.path)
        except OSError:
            continue
    return total


def _parent(pid):
    """The parent pid of pid (None if it is gone)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return int(f.read().rsplit(')', 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _descendants(pid):
    """Host pids of every process below pid (read from /proc)."""
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f'/proc/{current}/task')
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f'/proc/{current}/task/{task}/children') as f:
                    children = {int(p) for p in f.read().split()}
            except OSError:
                continue
            todo.extend(children - found)
            found |= children
    return found


# ---------------------------------------------------------------- the Student

class SandboxedStudent(Student):
    """A submission's code, run in sandboxed child processes (see the module docstring).

    submission: a submission.Submission, or the student's folder or zip (read
    with submission.read_submission).
    sandbox: 'auto' (bwrap and a control group where they work, else limits
    only), 'bwrap' (bwrap required), 'strict' (bwrap and a control group
    required) or 'none'. device: the device tests grade on (None: CPU), for
    CUDA access. timeout: default wall-clock seconds per call.
    spares: children kept starting ahead of need (0: on demand).
    time_budget: wall-clock seconds all requests together may take.
    item_time_budgets: {item: seconds} for items whose requests may take
    longer (or shorter) in all than ITEM_TIME_BUDGET.
    start: 'fork' (children forked from one preloaded Zygote per submission)
    or 'exec' (a fresh Python per child, started `spares` ahead; slower).
    """

    def __init__(self, submission, *, sandbox='auto', device=None, timeout=CALL_TIMEOUT,
                 memory_bytes=MEMORY_BYTES, spares=1,
                 time_budget=SUBMISSION_TIME_BUDGET, item_time_budgets=None, start='fork'):
        if start not in ('fork', 'exec'):
            raise ValueError(f"start must be 'fork' or 'exec', not {start!r}")
        if sandbox not in ('auto', 'bwrap', 'strict', 'none'):
            raise ValueError(f"sandbox must be 'auto', 'bwrap', 'strict' or 'none', not {sandbox!r}")
        if not isinstance(submission, Submission):
            submission = read_submission(submission, STUDENT_MODULES)
        self.device, self.default_timeout = device, timeout
        self.memory_bytes, self.time_budget = memory_bytes, time_budget
        self.item_time_budgets = dict(item_time_budgets or {})
        self.spares = spares if start == 'exec' else 0   # a fork takes milliseconds
        cuda = bool(device) and str(device).startswith('cuda')
        works, bwrap_why = bwrap_status(cuda) if sandbox != 'none' else (False, 'disabled')
        kind, cgroup_why = cgroups.available() if sandbox != 'none' else (None, 'disabled')
        missing = ([] if works else [bwrap_why]) + ([] if kind else [cgroup_why])
        if sandbox == 'bwrap' and not works:
            raise SandboxError(bwrap_why)
        if sandbox == 'strict' and missing:   # say all that is missing, not the first only
            raise SandboxError('; '.join(missing))
        self.use_bwrap = works
        warnings = [] if works else [sandbox_warning(bwrap_why)]
        self.group = cgroups.SubmissionGroup.create(
            memory_bytes=SUBMISSION_MEMORY_BYTES, pids=SUBMISSION_PIDS,
            cpus=SUBMISSION_CPUS) if kind else None
        if self.group is None:
            warnings.append(cgroup_warning(cgroup_why))
        self._warnings = warnings
        self._tmp = tempfile.TemporaryDirectory(prefix='grader-')
        self.root = assemble(submission, Path(self._tmp.name) / 'sandbox')
        self.logs = Path(self._tmp.name) / 'logs'
        self.logs.mkdir()
        self._serial = 0
        self._children = {}      # key -> (serial, Child)
        self._retired = []       # Children that died, kept for their logs
        self._waiting = []       # spare Children, started ahead
        self._seed = 0
        self._seeded = set()     # serials reseeded for the current test
        self._item = None        # the item of the current test
        self._spent = {}         # item -> seconds its requests took
        self._spent_total = 0.0  # seconds all requests took
        # Where the time went (benchmarks/bench_grading.py): starting children
        # (the zygote's start included), and each child's requests.
        self.timings = {'start': 0.0, 'modules': {}}
        self._broken = {}        # module -> the StudentError its import gave
        self._retired_output = 0     # bytes in the logs of retired children
        self._zygote = Zygote(self.root, self.logs / 'zygote.log', use_bwrap=self.use_bwrap,
                              device=device, memory_bytes=memory_bytes,
                              group=self.group) if start == 'fork' else None
        self._fill_spares()

    @property
    def warning(self):
        """What the sandbox did not enforce here (None: everything), for results.json."""
        return ' '.join(self._warnings) or None

    @property
    def sandbox(self):
        """'bubblewrap' or 'none (WARNING ...)', for results.json."""
        return 'bubblewrap' if self.use_bwrap else f'none ({self._warnings[0]})'

    @property
    def out_of_time(self):
        """{item: seconds} of the items whose time budget ran out."""
        return {item: spent for item, spent in self._spent.items()
                if item is not None and spent >= self._item_budget(item)}

    def _item_budget(self, item):
        return self.item_time_budgets.get(item, ITEM_TIME_BUDGET)

    def _start(self):
        self._serial += 1
        if self._zygote is not None:
            return self._serial, ForkedChild(self._zygote, self.logs / f'child-{self._serial}.log',
                                             memory_bytes=self.memory_bytes, group=self.group)
        return self._serial, Child(self.root, self.logs / f'child-{self._serial}.log',
                                   use_bwrap=self.use_bwrap, device=self.device,
                                   memory_bytes=self.memory_bytes, group=self.group)

    def _fill_spares(self):
        while len(self._waiting) < self.spares:
            self._waiting.append(self._start())

    def _child(self, key):
        """The live child for key, starting one (from a spare) if needed."""
        if key not in self._children:
            began = time.monotonic()
            try:
                serial, child = self._waiting.pop(0) if self._waiting else self._start()
            except ChildDied as e:   # e.g. the submission's processes are at their limit
                raise StudentError(e.kind, f"{key}: {e}") from None
            self._fill_spares()
            child.ready()
            if child.signals_confined is False and seccomp_warning() not in self._warnings:
                self._warnings.append(seccomp_warning())
            reply = child.request({'op': '__init__', 'package': 'scratchnn',
                                   'given_modules': PRELOADED_MODULES,
                                   'trusted_modules': TRUSTED_MODULES,
                                   'first_id': serial * IDS_PER_CHILD + 1}, START_TIMEOUT)
            if not reply.get('ok'):
                raise SandboxError(f"a grading process failed to start: {reply}")
            self._children[key] = (serial, child)
            self.timings['start'] += time.monotonic() - began
        return self._children[key]

    def _retire(self, key):
        serial, child = self._children.pop(key)
        child.kill()
        self._retired.append((serial, child))
        self._retired_output += _disk_bytes(child.log_path)   # it writes no more

    def _output_used(self):
        """Bytes the submission's processes hold in the grader's temporary folder:
        every child's log and, without bwrap, what lies in the assembled folder
        (their working directory: the only place they write there by default)."""
        live = [child.log_path for _, child in list(self._children.values()) + self._waiting]
        if self._zygote is not None:
            live.append(self._zygote.log_path)
        used = self._retired_output + sum(map(_disk_bytes, live))
        return used if self.use_bwrap else used + _folder_bytes(self.root)

    def _check_output(self, key, what):
        """Past the submission's output budget: key's child (the one that ran, so
        the one that wrote) goes, the logs of every child gone are cut to their
        start, and this request fails. Without bwrap, files the student's code
        left in the assembled folder stay: then every later request fails too."""
        if self._output_used() <= SUBMISSION_OUTPUT_BYTES:
            return
        if key in self._children:
            self._retire(key)
        for _, child in self._retired:
            _cut(child.log_path, KEPT_LOG_BYTES)
        self._retired_output = sum(_disk_bytes(child.log_path) for _, child in self._retired)
        error = StudentError('output', f"{what}: the submission's processes wrote more than "
                                       f"{SUBMISSION_OUTPUT_BYTES >> 20} MB in all (printed "
                                       f"output{'' if self.use_bwrap else ' and files'}); the "
                                       f"output was cut")
        error.budget = True   # not the module's import failing: it may run again
        raise error

    def _key(self, message):
        """Which child serves message: the owner of its references, else its module."""
        from . import protocol
        owners = {i // IDS_PER_CHILD for i in protocol.ref_ids(message)}
        if len(owners) > 1:
            raise StudentError('exception', "values from different student modules were "
                                            "passed to one call")
        if owners:
            serial = owners.pop()
            for key, (live, _) in self._children.items():
                if live == serial:
                    return key
            raise StudentError('crash', "this value was made by a student process that has "
                                        "since crashed or timed out")
        if message['op'] == 'call':
            return message['target'].partition('.')[0]
        raise StudentError('exception', f"{message['op']} needs a value made by student code")

    @staticmethod
    def _describe(message):
        return message.get('target') or message.get('name') or message['op']

    def begin_test(self, name: str, item: str | None = None) -> None:
        """Reseed every child from name before its first request in this test, and
        kill every process of the submission that is not one of our children."""
        self._seed = zlib.crc32(name.encode())
        self._seeded = set()
        self._item = item
        self.kill_strays()

    def our_pids(self):
        """Host pids of the processes we started: the zygote and the children."""
        ours = self._zygote.our_pids() if self._zygote is not None else set()
        for _, child in list(self._children.values()) + self._waiting:
            ours |= child.our_pids()
        return ours

    def kill_strays(self):
        """Kill (from here) every process in the submission's control group that
        is not a child we started: what student code left running. Returns how many."""
        if self.group is None:
            return 0
        ours = self.our_pids()
        strays = self.group.pids() - ours
        if not strays:
            return 0
        # A child whose own processes are left (not orphans) is replaced as
        # well: killed, they would stay zombies it never reaps, filling the
        # submission's process limit, which would cost other modules' items.
        parents = {_parent(pid) for pid in strays}
        for key, (_, child) in list(self._children.items()):
            if child.our_pids() & parents:
                self._retire(key)
                ours -= child.our_pids()
        return self.group.kill_all(keep=ours)

    def _check_import(self, key, timeout):
        """Import module `key` in its fresh child. A module that fails to import
        (raises, exits, hangs) fails every later call at once, with the same
        message: importing it again would only do the same."""
        try:
            self._request(key, {'op': 'import', 'module': key}, timeout, f'importing {key}.py')
        except StudentError as e:
            if not getattr(e, 'budget', False):   # out of budget: another item may import it
                self._broken[key] = e
            raise

    def request(self, message: dict) -> dict:
        message = dict(message)
        timeout = message.pop('timeout', None)
        if timeout is None:
            timeout = self.default_timeout
        key = self._key(message)
        if key in self._broken:
            e = self._broken[key]
            raise StudentError(e.kind, str(e))
        what = self._describe(message)
        self._time_left(what)
        try:
            if key not in self._children:
                self._check_import(key, timeout)
            return self._request(key, message, timeout, what)
        finally:
            self._check_output(key, what)

    def _time_left(self, what):
        """(seconds, which budget) left for a request; raises StudentError when none is."""
        item_budget = self._item_budget(self._item)
        item_left = item_budget - self._spent.get(self._item, 0.0)
        total_left = self.time_budget - self._spent_total
        if min(item_left, total_left) <= 0:
            whose = (f"this item's calls together ran out of their time budget "
                     f"({item_budget:g} s)" if item_left <= 0 else
                     f"the submission's calls together ran out of their time budget "
                     f"({self.time_budget:g} s)")
            error = StudentError('timeout', f"{what} was not run: {whose}")
            error.budget = True
            raise error
        if item_left < total_left:
            return item_left, f"this item's time budget ({item_budget:g} s in all)"
        return total_left, f"the submission's time budget ({self.time_budget:g} s in all)"

    def _request(self, key, message, timeout, what):
        """message's reply from key's child, which is replaced if it dies or hangs.
        Its wall-clock time counts against the item's and the submission's budgets."""
        left, budget = self._time_left(what)
        serial, child = self._child(key)   # starting a child is not the student's time
        start = child.log_path.stat().st_size if child.log_path.exists() else 0
        limit = min(timeout, left)
        began = time.monotonic()
        try:
            if serial not in self._seeded:
                message = dict(message, seed=self._seed)
                self._seeded.add(serial)
            envelope = child.request(message, limit)
        except ChildTimeout:
            self._retire(key)
            if limit < timeout:
                error = StudentError('timeout', f"{what} ran out of {budget}")
                error.budget = True
                raise error from None
            raise StudentError('timeout', f"{what} did not finish within {timeout:g} s "
                                          f"(an infinite loop?)") from None
        except ChildDied as e:
            self._retire(key)
            output = self._log_since(child, start, 300)
            said = f"; its last output: {output}" if output else ''
            raise StudentError(e.kind, f"{what}: {e}{said}") from None
        finally:
            spent = time.monotonic() - began
            self._spent[self._item] = self._spent.get(self._item, 0.0) + spent
            self._spent_total += spent
            self.timings['modules'][key] = self.timings['modules'].get(key, 0.0) + spent
        if not envelope.get('ok'):
            raise StudentError(envelope.get('kind', 'exception'), str(envelope.get('message')))
        return envelope['reply']

    @staticmethod
    def _log_since(child, start, n):
        """At most n characters of what child wrote after offset start (its end)."""
        try:
            with open(child.log_path, 'rb') as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(start, size - n))
                return f.read().decode(errors='replace').strip()
        except OSError:
            return ''

    def output_excerpt(self, limit: int = 2000) -> str:
        """The start of what the student's code printed, over all children, at most limit chars."""
        parts = []
        children = sorted(self._retired + list(self._children.values()), key=lambda sc: sc[0])
        for serial, child in children:
            try:
                with open(child.log_path, 'rb') as f:
                    text = f.read(limit).decode(errors='replace').strip()
            except OSError:
                continue
            if text:
                parts.append(text)
        excerpt = '\n'.join(parts)
        return excerpt if len(excerpt) <= limit else excerpt[:limit] + '\n[... cut]'

    def close(self):
        """Kill every child and every process of the submission, delete the temporary folder."""
        for _, child in list(self._children.values()) + self._waiting:
            child.kill()
        self._children, self._waiting = {}, []
        if self._zygote is not None:
            self._zygote.kill()
        if self.group is not None:
            self.group.close()
        self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
