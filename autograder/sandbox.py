"""Student code in child processes: the real Student behind the hidden suites.

SandboxedStudent runs a submission in child processes (child.py) and talks
to them through protocol.py. The grader process never imports student code.

The package a child imports is assembled in a temporary folder:
- scratchnn/: the trusted given modules (TRUSTED_MODULES, from this repo's
  solutions or release), a trusted empty __init__.py, and the submission's
  five student modules (STUDENT_MODULES), each importable on its own;
- autograder/: a copy of protocol.py, student.py, child.py and jobs.py.

Limits on each child: wall-clock time per request (parent side), memory
(RLIMIT_AS; RLIMIT_DATA when grading on CUDA, which reserves huge address
space), the size of any file it writes (RLIMIT_FSIZE, so its captured
stdout/stderr log is capped), no core dumps; it runs in its own session and
its whole process group is killed when it is done, hangs or crashes.

Where bubblewrap works, each child also runs in `bwrap` with every
namespace unshared (no network), read-only binds of only what Python and
torch need, the assembled folder read-only at /grader, a size-capped tmpfs
/tmp as its working directory, and /dev/nvidia* when present. It sees
neither the repository (solutions, hidden suites, gradebook) nor the
submission folder. Without bwrap the limits alone apply, and
`sandbox_warning()` says so loudly.

Children are keyed: one per student module (a call to 'optim.sgd' goes to
the 'optim' child), one per job name, so a module that crashes, hangs or
monkeypatches torch costs only its own items. A dead child is replaced by a
fresh one for the next request; references into the dead one then fail
with StudentError('crash'). A spare child is kept starting ahead of need.
"""
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

from . import protocol
from .student import Student, StudentError
from .submission import Submission, read_submission

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
TRUSTED_PACKAGES = (REPO / 'solutions' / 'nn_from_scratch' / 'scratchnn',
                    REPO / 'assignments' / 'nn_from_scratch' / 'scratchnn')
TRUSTED_MODULES = ('gradcheck', 'data', 'solver', 'conv', 'device', '_checks')
STUDENT_MODULES = ('layers', 'dropout', 'normalization', 'init', 'optim')
GRADER_FILES = ('protocol.py', 'student.py', 'child.py', 'jobs.py')

CALL_TIMEOUT = 20.0        # seconds per call, getattr, setattr
JOB_TIMEOUT = 90.0         # seconds per trusted job: training runs take a few, and stop
                           # themselves at their own time_limit_s (60 s) first
START_TIMEOUT = 120.0      # seconds for a child to import torch and say ready
# Seconds of timed-out calls one item may spend before its remaining calls
# fail at once: a hanging function costs its item's points, not the class's
# grading time.
ITEM_TIMEOUT_BUDGET = 45.0
MEMORY_BYTES = 4 << 30     # address space (or data) limit per child
OUTPUT_BYTES = 16 << 20    # largest file a child may write (its log included)
TMP_BYTES = 64 << 20       # size of the sandbox's private /tmp
MAX_REPLY_BYTES = 512 << 20
IDS_PER_CHILD = 10 ** 9    # reference ids of child k are k*IDS_PER_CHILD + 1, ...
SANDBOX_ROOT = '/grader'   # where the assembled folder appears inside bwrap
BOOT = ("import sys; sys.path.insert(0, {root!r}); "
        "from autograder.child import main; sys.exit(main())")


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
    """Build dest/scratchnn and dest/autograder for a child; returns dest.

    submission: a submission.Submission (the student modules, already read
    without following links). A student module it lacks or refused becomes
    one that raises ImportError saying why, which costs only that module's items.
    """
    dest = Path(dest)
    package, grader = dest / 'scratchnn', dest / 'autograder'
    package.mkdir(parents=True)
    grader.mkdir()
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
    cmd += ['--size', str(TMP_BYTES), '--tmpfs', '/tmp']
    # Python (and a venv living inside the repository: only that path of it).
    for d in _outermost(_python_dirs()):
        if not any(d == s or d.startswith(s + '/') for s in SYSTEM_DIRS):
            cmd += ['--ro-bind', d, d]
    if cuda:
        for dev in sorted(Path('/dev').glob('nvidia*')):
            cmd += ['--dev-bind', str(dev), str(dev)]
    cmd += ['--ro-bind', str(root), SANDBOX_ROOT, '--chdir', '/tmp']
    return cmd


_BWRAP_STATUS = {}


def bwrap_status(cuda=False):
    """(works, why): whether bwrap can start Python here, tried once per process."""
    if cuda not in _BWRAP_STATUS:
        if shutil.which('bwrap') is None:
            _BWRAP_STATUS[cuda] = (False, "bubblewrap (bwrap) is not installed")
        else:
            with tempfile.TemporaryDirectory(prefix='grader-probe-') as root:
                cmd = bwrap_command(root, cuda) + [sys.executable, '-I', '-c', 'import sys']
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


# ---------------------------------------------------------------- one child

class ChildDied(Exception):
    """The child closed the channel or died; .kind and str() describe how."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


class ChildTimeout(Exception):
    pass


def _limits(memory_bytes, memory_resource):
    """preexec_fn: resource limits for the child (and bwrap in front of it)."""
    def apply():
        resource.setrlimit(memory_resource, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_BYTES, OUTPUT_BYTES))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def child_env(device):
    """A small, fixed environment: nothing of the grader's leaks in."""
    env = {'PATH': '/usr/bin:/bin', 'HOME': '/tmp', 'LANG': 'C.UTF-8', 'PYTHONHASHSEED': '0',
           'PYTHONDONTWRITEBYTECODE': '1', 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1',
           'OPENBLAS_NUM_THREADS': '1', 'TQDM_DISABLE': '1', 'MPLBACKEND': 'Agg'}
    if device and str(device).startswith('cuda') and 'CUDA_VISIBLE_DEVICES' in os.environ:
        env['CUDA_VISIBLE_DEVICES'] = os.environ['CUDA_VISIBLE_DEVICES']
    return env


class Child:
    """One child process and its channel. Starts at once; ready() waits for it."""

    def __init__(self, root, log_path, *, use_bwrap, device, memory_bytes):
        cuda = bool(device) and str(device).startswith('cuda')
        inner_root = SANDBOX_ROOT if use_bwrap else str(root)
        cmd = [sys.executable, '-I', '-B', '-c', BOOT.format(root=inner_root)]
        if use_bwrap:
            cmd = bwrap_command(root, cuda) + cmd
        self.log_path = Path(log_path)
        # CUDA reserves far more address space than it uses: limit data instead.
        memory_resource = resource.RLIMIT_DATA if cuda else resource.RLIMIT_AS
        with open(self.log_path, 'wb') as log:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                cwd=tempfile.gettempdir() if use_bwrap else str(root), env=child_env(device),
                start_new_session=True, preexec_fn=_limits(memory_bytes, memory_resource))
        self._in, self._out = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        os.set_blocking(self._in, False)
        self._buffer = b''
        self.is_ready = False

    def ready(self, timeout=START_TIMEOUT):
        """Wait for the child's hello; raises SandboxError if it never comes."""
        if not self.is_ready:
            try:
                self._receive(timeout)
            except (ChildDied, ChildTimeout) as e:
                self.kill()
                raise SandboxError(f"a grading process failed to start ({e}); its output: "
                                   f"{self.log_tail(1000)}") from None
            self.is_ready = True
        return self

    def request(self, message, timeout):
        """The reply envelope to message; raises ChildTimeout or ChildDied."""
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
        import time
        deadline = time.monotonic() + timeout
        left = lambda: max(0.0, deadline - time.monotonic())  # noqa: E731
        while len(self._buffer) < protocol.HEADER.size:
            self._read_some(left())
        (size,) = protocol.HEADER.unpack(self._buffer[:protocol.HEADER.size])
        if size > MAX_REPLY_BYTES:
            self.kill()
            raise ChildDied('bad_output', f"sent back {size} bytes, more than the "
                                          f"limit of {MAX_REPLY_BYTES}")
        end = protocol.HEADER.size + size
        while len(self._buffer) < end:
            self._read_some(left())
        data, self._buffer = self._buffer[protocol.HEADER.size:end], self._buffer[end:]
        try:
            return protocol.loads(data)
        except Exception as e:  # not plain data: refused, never unpickled
            raise ChildDied('bad_output', f"sent back something other than tensors, numbers, "
                                          f"strings and containers of them ({type(e).__name__})")

    def _died(self):
        """A ChildDied saying how the child ended (waits briefly for its status)."""
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
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
        try:
            with open(self.log_path, 'rb') as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - n))
                return f.read().decode(errors='replace')
        except OSError:
            return ''

    def kill(self):
        """Kill the child's whole process group and reap it."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


# ---------------------------------------------------------------- the Student

class SandboxedStudent(Student):
    """A submission's code, run in sandboxed child processes (see the module docstring).

    submission: a submission.Submission, or the student's folder or zip (read
    with submission.read_submission).
    sandbox: 'auto' (bwrap where it works, else limits only), 'bwrap' (required)
    or 'none'. device: the device tests grade on (None: CPU), for CUDA access.
    timeout / job_timeout: default wall-clock seconds per call / per job.
    spares: children kept starting ahead of need (0: start on demand).
    """

    def __init__(self, submission, *, sandbox='auto', device=None, timeout=CALL_TIMEOUT,
                 job_timeout=JOB_TIMEOUT, memory_bytes=MEMORY_BYTES, spares=1):
        if not isinstance(submission, Submission):
            submission = read_submission(submission, STUDENT_MODULES)
        self.device, self.default_timeout, self.job_timeout = device, timeout, job_timeout
        self.memory_bytes, self.spares = memory_bytes, spares
        cuda = bool(device) and str(device).startswith('cuda')
        works, why = bwrap_status(cuda) if sandbox in ('auto', 'bwrap') else (False, 'disabled')
        if sandbox == 'bwrap' and not works:
            raise SandboxError(why)
        self.use_bwrap = works
        self.warning = None if works else sandbox_warning(why)
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
        self._timed_out = {}     # item -> seconds its calls spent timing out
        self._broken = {}        # module -> the StudentError its import gave
        self._fill_spares()

    @property
    def sandbox(self):
        """'bubblewrap' or 'none (WARNING ...)', for results.json."""
        return 'bubblewrap' if self.use_bwrap else f'none ({self.warning})'

    def _start(self):
        self._serial += 1
        return self._serial, Child(self.root, self.logs / f'child-{self._serial}.log',
                                   use_bwrap=self.use_bwrap, device=self.device,
                                   memory_bytes=self.memory_bytes)

    def _fill_spares(self):
        while len(self._waiting) < self.spares:
            self._waiting.append(self._start())

    def _child(self, key):
        """The live child for key, starting one (from a spare) if needed."""
        if key not in self._children:
            serial, child = self._waiting.pop(0) if self._waiting else self._start()
            self._fill_spares()
            child.ready()
            reply = child.request({'op': '__init__', 'package': 'scratchnn',
                                   'first_id': serial * IDS_PER_CHILD + 1}, START_TIMEOUT)
            if not reply.get('ok'):
                raise SandboxError(f"a grading process failed to start: {reply}")
            self._children[key] = (serial, child)
        return self._children[key]

    def _retire(self, key):
        serial, child = self._children.pop(key)
        child.kill()
        self._retired.append((serial, child))

    def _key(self, message):
        """Which child serves message: the owner of its references, else its module or job."""
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
        if message['op'] == 'job':
            return f"job:{message['name']}"
        if message['op'] == 'call':
            return message['target'].partition('.')[0]
        raise StudentError('exception', f"{message['op']} needs a value made by student code")

    @staticmethod
    def _describe(message):
        return message.get('target') or message.get('name') or message['op']

    def begin_test(self, name, item=None):
        """Reseed every child from name before its first request in this test."""
        self._seed = zlib.crc32(name.encode())
        self._seeded = set()
        self._item = item

    def _check_import(self, key, timeout):
        """Import module `key` in its fresh child. A module that fails to import
        (raises, exits, hangs) fails every later call at once, with the same
        message: importing it again would only do the same."""
        if key.startswith('job:'):
            return
        try:
            self._request(key, {'op': 'import', 'module': key}, timeout, f'importing {key}.py')
        except StudentError as e:
            self._broken[key] = e
            raise

    def request(self, message):
        message = dict(message)
        timeout = message.pop('timeout', None)
        if timeout is None:
            timeout = self.job_timeout if message["op"] == "job" else self.default_timeout
        key = self._key(message)
        if key in self._broken:
            e = self._broken[key]
            raise StudentError(e.kind, str(e))
        spent = self._timed_out.get(self._item, 0.0)
        if spent >= ITEM_TIMEOUT_BUDGET:
            raise StudentError('timeout', f"{self._describe(message)} was not run: earlier calls "
                                          f"of this item ran out of time ({spent:g} s)")
        if key not in self._children:
            self._check_import(key, timeout)
        return self._request(key, message, timeout, self._describe(message))

    def _request(self, key, message, timeout, what):
        """message's reply from key's child, which is replaced if it dies or hangs."""
        serial, child = self._child(key)
        start = child.log_path.stat().st_size if child.log_path.exists() else 0
        try:
            if serial not in self._seeded:
                child.request({'op': '__seed__', 'seed': self._seed}, timeout)
                self._seeded.add(serial)
            envelope = child.request(message, timeout)
        except ChildTimeout:
            self._retire(key)
            self._timed_out[self._item] = self._timed_out.get(self._item, 0.0) + timeout
            raise StudentError('timeout', f"{what} did not finish within {timeout:g} s "
                                          f"(an infinite loop?)") from None
        except ChildDied as e:
            self._retire(key)
            output = self._log_since(child, start, 300)
            said = f"; its last output: {output}" if output else ''
            raise StudentError(e.kind, f"{what}: {e}{said}") from None
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

    def output_excerpt(self, limit=2000):
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
        """Kill every child and delete the temporary folder."""
        for _, child in list(self._children.values()) + self._waiting:
            child.kill()
        self._children, self._waiting = {}, []
        self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
