"""One resource budget for everything a submission starts: a control group.

    group = SubmissionGroup.create(memory_bytes=6 << 30, pids=128, cpus=1.0)
    memory = group.child_memory(4 << 30)           # a sub-group for one child
    subprocess.Popen(cmd, preexec_fn=lambda: group.join(memory))   # joins before exec
    group.kill_all(keep={pid, ...})                # from outside: stragglers
    group.close()                                  # kill everything, remove it

Per-process limits (RLIMIT_AS) do not add up: 200 processes each under its
limit, or files in a RAM-backed tmpfs or memfd, escape them. A control group
counts them all: memory (tmpfs, /dev/shm and memfd pages included: the kernel
charges them to the group of the process that wrote them), the number of
processes and threads, and CPU time (capped at `cpus` cores). Every process
a child starts inherits the group, and the trusted grader kills them from
outside by listing the group: no child is trusted to clean up. Each child
also gets a memory sub-group of its own, so that a child filling RAM with
files (memfd, tmpfs), which the kernel does not count as any process's
memory, is the one the out-of-memory killer stops, never a sibling.

Where it works (tried in this order):
- cgroup v2 (a writable subtree of the unified hierarchy with the memory,
  pids and cpu controllers enabled), the usual layout of current systems;
- cgroup v1 (writable memory, pids and cpu hierarchies under
  /sys/fs/cgroup/<controller>/, as on older hosts and in many containers).
Groups are made below the grader's own group, so an outer limit (a
container's, a CI runner's) still applies. Without either (no root, no
delegated subtree) `available()` says why and the sandbox states the
fallback in its warning: per-process limits only.
"""
import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path('/sys/fs/cgroup')
V1_CONTROLLERS = ('memory', 'pids', 'cpu', 'freezer')   # freezer: optional
CPU_PERIOD_US = 100_000
_counter = iter(range(1, 1 << 62))


def _own_paths():
    """{hierarchy: path of this process's group in it}; hierarchy '' is cgroup v2."""
    paths = {}
    try:
        lines = Path('/proc/self/cgroup').read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _, controllers, path = line.split(':', 2)
        for controller in controllers.split(',') if controllers else ['']:
            paths[controller] = path
    return paths


def _v2_base():
    """The folder of this process's cgroup v2 group, if v2 with our controllers is writable."""
    own = _own_paths().get('')
    for mount in (CGROUP_ROOT, CGROUP_ROOT / 'unified'):
        if own is None or not (mount / 'cgroup.controllers').is_file():
            continue
        base = mount / own.lstrip('/')
        try:
            enabled = set((base / 'cgroup.subtree_control').read_text().split())
            available = set((base / 'cgroup.controllers').read_text().split())
        except OSError:
            continue
        wanted = {'memory', 'pids', 'cpu'}
        if not wanted <= available:
            continue
        if not wanted <= enabled:
            # A group that holds processes cannot enable controllers for its
            # children (the "no internal processes" rule): this fails then.
            try:
                (base / 'cgroup.subtree_control').write_text(
                    ' '.join(f'+{c}' for c in sorted(wanted - enabled)))
            except OSError:
                continue
        if os.access(base, os.W_OK):
            return base
    return None


def _v1_bases():
    """{controller: folder of this process's v1 group} if memory, pids and cpu are writable."""
    own = _own_paths()
    bases = {}
    for controller in V1_CONTROLLERS:
        path = own.get(controller)
        base = CGROUP_ROOT / controller / (path or '/').lstrip('/')
        if path is not None and (base / 'cgroup.procs').is_file() and os.access(base, os.W_OK):
            bases[controller] = base
    return bases if {'memory', 'pids', 'cpu'} <= set(bases) else None


_STATUS = {}


def available():
    """(kind, why): kind 'v2', 'v1' or None (then why says what is missing). Tried once."""
    if not _STATUS:
        if _v2_base() is not None:
            _STATUS['v'] = ('v2', '')
        elif _v1_bases() is not None:
            _STATUS['v'] = ('v1', '')
        else:
            _STATUS['v'] = (None, "no writable cgroup (v2 with memory, pids and cpu controllers, "
                                  "or v1 memory, pids and cpu hierarchies): run the grader as "
                                  "root or in a delegated cgroup subtree")
    return _STATUS['v']


def _write(path, value):
    with open(path, 'w') as f:
        f.write(str(value))


class SubmissionGroup:
    """A control group (one per hierarchy for v1) holding one submission's processes."""

    def __init__(self, dirs, kind):
        self.dirs, self.kind = dirs, kind   # {controller or '': folder}

    @classmethod
    def create(cls, *, memory_bytes, pids, cpus):
        """A new group with these limits, or None where cgroups are unavailable."""
        kind, _ = available()
        name = f'grader-{os.getpid()}-{next(_counter)}'
        if kind == 'v2':
            folder = _v2_base() / name
            folder.mkdir()
            group = cls({'': folder}, kind)
            _write(folder / 'cgroup.subtree_control', '+memory')   # for child_memory()
            _write(folder / 'memory.max', memory_bytes)
            if (folder / 'memory.swap.max').exists():
                _write(folder / 'memory.swap.max', 0)
            _write(folder / 'pids.max', pids)
            _write(folder / 'cpu.max', f'{int(cpus * CPU_PERIOD_US)} {CPU_PERIOD_US}')
            return group
        if kind == 'v1':
            dirs = {}
            for controller, base in _v1_bases().items():
                (base / name).mkdir()
                dirs[controller] = base / name
            group = cls(dirs, kind)
            memory = dirs['memory']
            _write(memory / 'memory.limit_in_bytes', memory_bytes)
            if (memory / 'memory.memsw.limit_in_bytes').exists():   # swap counted too
                _write(memory / 'memory.memsw.limit_in_bytes', memory_bytes)
            _write(dirs['pids'] / 'pids.max', pids)
            _write(dirs['cpu'] / 'cpu.cfs_period_us', CPU_PERIOD_US)
            _write(dirs['cpu'] / 'cpu.cfs_quota_us', int(cpus * CPU_PERIOD_US))
            return group
        return None

    def child_memory(self, memory_bytes):
        """A memory sub-group (its folder) for one child, limited to memory_bytes."""
        folder = (self.dirs.get('') or self.dirs['memory']) / f'child-{next(_counter)}'
        folder.mkdir()
        if self.kind == 'v2':
            _write(folder / 'memory.max', memory_bytes)
            if (folder / 'memory.swap.max').exists():
                _write(folder / 'memory.swap.max', 0)
        else:
            _write(folder / 'memory.limit_in_bytes', memory_bytes)
            if (folder / 'memory.memsw.limit_in_bytes').exists():
                _write(folder / 'memory.memsw.limit_in_bytes', memory_bytes)
        return folder

    def join(self, memory=None):
        """Move the calling process into the group (a preexec_fn, before exec);
        memory: its own sub-group from child_memory(), if any."""
        pid = str(os.getpid())
        if self.kind == 'v2':
            _write((memory or self.dirs['']) / 'cgroup.procs', pid)
            return
        for controller, folder in self.dirs.items():
            target = memory if controller == 'memory' and memory is not None else folder
            _write(target / 'cgroup.procs', pid)

    def move(self, pid, memory):
        """Move process pid (already in the group) into its own memory sub-group."""
        try:
            _write(memory / 'cgroup.procs', pid)
        except OSError:
            pass   # it has already exited

    def pids(self):
        """Host pids of every process in the group (its sub-groups included)."""
        found = set()
        for folder, _, _ in os.walk(self.dirs.get('') or self.dirs['pids']):
            try:
                found.update(int(p) for p in Path(folder, 'cgroup.procs').read_text().split())
            except (OSError, ValueError):
                pass
        return found

    def memory_peak(self):
        """The most memory the group ever used, in bytes (None if unknown)."""
        for path in (self.dirs.get('', Path('/nonexistent')) / 'memory.peak',
                     self.dirs.get('memory', Path('/nonexistent')) / 'memory.max_usage_in_bytes'):
            try:
                return int(path.read_text())
            except (OSError, ValueError):
                continue
        return None

    def _freeze(self, frozen):
        if self.kind == 'v2':
            path, value = self.dirs[''] / 'cgroup.freeze', '1' if frozen else '0'
        elif 'freezer' in self.dirs:
            path, value = self.dirs['freezer'] / 'freezer.state', 'FROZEN' if frozen else 'THAWED'
        else:
            return
        try:
            _write(path, value)
        except OSError:
            pass

    def kill_all(self, keep=(), wait=True):
        """SIGKILL every process of the group but those in keep; returns how many.

        The group is frozen while the kills are sent, so a process forking in
        a loop cannot outrun them; then (wait) we wait briefly for them to be
        reaped, so that the group's process limit is free for new children."""
        keep, killed = set(keep), set()
        if not self.pids() - keep:
            return 0          # the usual case, before each test: nothing to freeze
        for _ in range(50):
            self._freeze(True)
            try:
                victims = self.pids() - keep
                for pid in victims:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        killed.add(pid)
                    except ProcessLookupError:
                        pass
            finally:
                self._freeze(False)
            if not victims:
                break
            time.sleep(0.002)
        if wait:
            self._wait_reaped()
        return len(killed)

    def _wait_reaped(self, seconds=2.0):
        """Wait until the killed processes are reaped: until then they still count
        against the process limit (pids.current), and a new child could not start."""
        top = self.dirs.get('') or self.dirs['pids']
        listing = 'cgroup.threads' if self.kind == 'v2' else 'tasks'
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                current = int((top / 'pids.current').read_text())
                alive = sum(len(Path(folder, listing).read_text().split())
                            for folder, _, _ in os.walk(top))
            except (OSError, ValueError):
                return
            if current <= alive:
                return
            time.sleep(0.01)

    def close(self):
        """Kill everything in the group and remove it (sub-groups first). No new
        child will start in it: the processes need not be reaped first."""
        self.kill_all(wait=False)
        for top in self.dirs.values():
            folders = [Path(f) for f, _, _ in os.walk(top)]
            for folder in reversed(folders):
                for _ in range(200):   # a killed process leaves the group once it exits
                    try:
                        folder.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        self.kill_all(wait=False)
                        time.sleep(0.01)
