"""SandboxedStudent: student code runs in limited child processes, one per module,
and every way it can fail becomes a StudentError of the right kind while the
grader carries on with a fresh child."""
import json
import os
import pickle
import resource
import subprocess
import sys

import pytest
import torch

from autograder.isolation import cgroups, protocol, sandbox, seccomp
from autograder.isolation.sandbox import SandboxedStudent, _parent
from autograder.isolation.student import Ref, StudentError
from hostile import REPO, make_submission

BWRAP, BWRAP_WHY = sandbox.bwrap_status()
needs_bwrap = pytest.mark.skipif(
    not BWRAP, reason=f"bubblewrap unavailable ({BWRAP_WHY}): without it student code CAN see "
                      f"the repository and the network, so these isolation checks cannot hold")


@pytest.fixture(scope='module')
def hostile(tmp_path_factory):
    """One sandboxed submission whose layers, optim, init, dropout and
    normalization each misbehave."""
    submission = make_submission(tmp_path_factory.mktemp('hostile'),
                                 ['loop', 'exit_in_call', 'memory', 'flood', 'logs'])
    with SandboxedStudent(submission, timeout=2.0) as student:
        yield student


@pytest.fixture(scope='module')
def honest():
    with SandboxedStudent(REPO / 'solutions' / 'nn_from_scratch') as student:
        yield student


def test_calls_return_copies_and_references(honest):
    x, w, b = torch.randn(4, 3, 2), torch.randn(6, 5), torch.randn(5)
    res = honest.call('layers.Linear.forward', x, w, b)
    out, cache = res.value
    assert torch.allclose(out, x.reshape(4, 6) @ w + b)
    dx, dw, db = honest.call('layers.Linear.backward', torch.ones(4, 5), res.ref[1]).value
    assert dx.shape == x.shape and torch.allclose(db, torch.full((5,), 4.0))
    net = honest.call('layers.FullyConnectedNet', [7], input_dim=6, seed=0).ref
    assert isinstance(net, Ref)
    params = honest.getattr(net, 'params')
    params['W1'] = torch.zeros(6, 7)
    honest.setattr(net, 'params', params)
    assert torch.equal(honest.getattr(net, 'params')['W1'], torch.zeros(6, 7))
    assert honest.call_method(net, 'loss', torch.randn(3, 6)).value.shape == (3, 10)


def test_each_module_gets_its_own_child(honest):
    honest.call('optim.sgd', torch.ones(2), torch.ones(2))
    honest.call('init.xavier_normal', 3, 4)
    assert {'optim', 'init'} <= set(honest._children)
    serials = {serial for serial, _ in honest._children.values()}
    assert len(serials) == len(honest._children)


def test_reseeding_per_test_makes_random_results_repeatable(honest):
    draws = []
    for name in ('test_a', 'test_a', 'test_b'):
        honest.begin_test(name)
        draws.append(honest.call('init.xavier_normal', 20, 30).value)
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])


def test_infinite_loop_times_out_and_the_module_goes_on(hostile):
    with pytest.raises(StudentError) as err:
        hostile.call('optim.sgd_momentum', torch.ones(3), torch.ones(3))
    assert err.value.kind == 'timeout' and 'sgd_momentum' in str(err.value)
    next_w, _ = hostile.call('optim.sgd', torch.ones(3), torch.ones(3)).value
    assert torch.allclose(next_w, torch.full((3,), 0.99))


def test_per_call_timeout_can_be_raised(hostile):
    with hostile.timeout(0.5), pytest.raises(StudentError) as err:
        hostile.call('optim.sgd_momentum', torch.ones(1), torch.ones(1))
    assert err.value.kind == 'timeout' and '0.5 s' in str(err.value)


def test_exit_inside_a_call_is_a_crash_and_a_fresh_child_follows(hostile):
    res = hostile.call('layers.Linear.forward', torch.ones(2, 3), torch.ones(3, 4), torch.zeros(4))
    with pytest.raises(StudentError) as err:
        hostile.call('layers.ReLU.forward', torch.ones(2))
    assert err.value.kind == 'crash' and 'exit' in str(err.value)
    # The crashed child's values are gone; new calls work.
    with pytest.raises(StudentError) as stale:
        hostile.call('layers.Linear.backward', torch.ones(2, 4), res.ref[1])
    assert stale.value.kind == 'crash'
    out, _ = hostile.call('layers.Linear.forward', torch.ones(2, 3), torch.ones(3, 4),
                          torch.zeros(4)).value
    assert torch.equal(out, torch.full((2, 4), 3.0))


def test_50_gb_is_a_memory_error(hostile):
    with pytest.raises(StudentError) as err:
        hostile.call('init.xavier_uniform', 3, 4)
    assert err.value.kind == 'memory'
    assert hostile.call('init.xavier_normal', 3, 4).value.shape == (3, 4)


def test_printing_gigabytes_is_capped(hostile):
    with pytest.raises(StudentError) as err:
        hostile.call('dropout.Dropout.forward', torch.ones(3), {'p': 0.5, 'mode': 'train'})
    assert 'output' in str(err.value)
    logs = list(hostile.logs.glob('*.log'))
    assert logs and max(p.stat().st_size for p in logs) <= sandbox.OUTPUT_BYTES
    excerpt = hostile.output_excerpt(limit=500)
    assert 'import-time chatter' in excerpt and len(excerpt) <= 520
    # The grader process itself stayed small.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 3 * 2**20  # KiB: < 3 GiB


def test_fresh_logs_filled_one_after_another_stay_in_the_submission_output_budget(hostile,
                                                                                  monkeypatch):
    """tests/hostile/logs: each call prints just under the cap of one file and
    ends its process, so the next call gets a fresh child and a fresh log. The
    submission's logs together stay within its budget: the call that goes over
    fails saying so, the logs of the children gone are cut to their start, and
    the module's other functions and the other modules go on."""
    budget = 20 << 20      # cheaper than the real one: three calls go over it
    monkeypatch.setattr(sandbox, 'SUBMISSION_OUTPUT_BYTES', budget)
    x, gamma, beta = torch.randn(4, 5), torch.ones(5), torch.zeros(5)
    errors = {}
    for _ in range(3):     # 45 MB printed in all
        with pytest.raises(StudentError) as err:
            hostile.call('normalization.LayerNorm.forward', x, gamma, beta, {})
        errors[err.value.kind] = str(err.value)
        assert sandbox._folder_bytes(hostile.logs) <= budget + sandbox.OUTPUT_BYTES
    assert 'processes wrote more than 20 MB in all' in errors['output']
    out, _ = hostile.call('normalization.BatchNorm.forward', x, gamma, beta,
                          {'mode': 'train'}).value
    assert out.shape == x.shape
    assert hostile.call('init.xavier_normal', 3, 4).value.shape == (3, 4)


# ---------------------------------------------------------------- the wire

def _wire(*entries):
    """A message whose tensor table holds entries (protocol._tensor_entry's
    tuples, or anything else) and whose reply is the first tensor."""
    table = pickle.dumps(list(entries), protocol=pickle.HIGHEST_PROTOCOL)
    return protocol.TABLE.pack(len(table)) + table + b'\x80\x05K\x00Q.'


@pytest.mark.parametrize('entry', [
    ('torch.float32', (4,), (1024,), 'cpu', bytes(16)),        # strides of its own choosing
    ('torch.float32', (2, 2), (1, 1), 'cpu', bytes(16)),       # not a permutation
    ('torch.float32', (2, 2), (True, False), 'cpu', bytes(16)),
    ('torch.float32', (2, 2), ('a', 0), 'cpu', bytes(16)),
    ('torch.float32', (4,), None, 'cpu', bytes(15)),           # fewer bytes than its shape
    ('torch.float32', (4,), None, 'cpu', bytes(17)),           # more
    ('torch.float32', (4,), None, 'meta', bytes(16)),          # data for nothing
    ('torch.float32', (-4,), None, 'cpu', b''),
    ('torch.float32', (True,), None, 'cpu', bytes(4)),
    ('torch.float32', (1,) * 65, None, 'cpu', bytes(4)),
    ('torch.float32', (4,), None, 'cpu', bytearray(16)),
    ('torch.float32', [4], None, 'cpu', bytes(16)),
    ('torch.qint8', (4,), None, 'cpu', bytes(4)),              # a dtype not allowed
    ('torch.float32', (4,), None, 'mps', bytes(16)),           # a device not allowed
    ('torch.float32', (4,), None, 'cpu\n', bytes(16)),
    ('torch.float32', (4,), None, 'cpu', bytes(16), 'extra'),
])
def test_the_wire_builds_tensors_only_from_their_exact_bytes(entry):
    """A tensor entry is checked before anything is allocated: known dtype and
    device, a shape of plain non-negative ints, its layout a permutation of its
    dims (never strides or an offset), exactly its bytes."""
    with pytest.raises(pickle.UnpicklingError):
        protocol.loads(_wire(entry))


def test_the_wire_counts_every_tensor_before_making_any():
    half = ('torch.uint8', (protocol.MAX_TENSOR_BYTES // 2 + 1,), None, 'meta', b'')
    for entries in ([half, half], [('torch.float32', (1 << 20, 1 << 20), None, 'meta', b'')]):
        with pytest.raises(protocol.TooLarge):
            protocol.loads(_wire(*entries))


def test_the_wire_keeps_the_order_of_the_dims_and_takes_only_the_bytes_sent():
    x = torch.randn(3, 4, 5, dtype=torch.float64)
    for t in (x, x.transpose(0, 2), x.permute(1, 2, 0), x[:, 1], x.expand(2, 3, 4, 5),
              torch.tensor(2.0), torch.empty(0, 3).t(), torch.ones(3, device='meta').expand(4, 3)):
        back = protocol.loads(protocol.dumps(t))
        assert back.shape == t.shape and back.dtype == t.dtype and back.device == t.device
        assert back.is_contiguous() == (t.is_contiguous() or not protocol._memory_order(t))
        if t.device.type != 'meta':
            assert torch.equal(back, t)
            assert back.untyped_storage().nbytes() == t.numel() * t.element_size()


# ---------------------------------------------------------------- seccomp

SYSCALL_PROBE = """
import ctypes, errno, fcntl, json, os, resource, signal, socket, struct, sys
from autograder.isolation import seccomp
libc = ctypes.CDLL(None, use_errno=True)


def libc_call(name, *args):
    if getattr(libc, name)(*args) < 0:
        raise OSError(ctypes.get_errno(), name)


os.setsid()
if not seccomp.confine(cuda=sys.argv[2] == 'cuda'):
    print('null')      # this kernel has no seccomp filters
    sys.exit(0)
parent, me = os.getppid(), os.getpid()
read_end, write_end = os.pipe()
attempts = {
    'F_SETOWN parent': lambda: fcntl.fcntl(read_end, fcntl.F_SETOWN, parent),
    'F_SETOWN_EX parent': lambda: fcntl.fcntl(read_end, 15, struct.pack('ii', 1, parent)),
    'F_SETSIG': lambda: fcntl.fcntl(read_end, 10, signal.SIGKILL),
    'prlimit parent': lambda: resource.prlimit(parent, resource.RLIMIT_CPU),
    'prlimit pid 1': lambda: resource.prlimit(1, resource.RLIMIT_CPU),
    'setpriority parent': lambda: os.setpriority(os.PRIO_PROCESS, parent, 19),
    'setpriority user': lambda: os.setpriority(os.PRIO_USER, os.getuid(), 19),
    'affinity parent': lambda: os.sched_setaffinity(parent, {0}),
    'scheduler parent': lambda: os.sched_setscheduler(parent, os.SCHED_IDLE, os.sched_param(0)),
    'kill parent': lambda: os.kill(parent, 0),
    'kill all': lambda: os.kill(-1, 0),
    'tgkill parent': lambda: libc_call('syscall', seccomp.NUMBERS[os.uname().machine]['tgkill'],
                                       parent, parent, 0),
    'socket': lambda: socket.socket(),
    'exec': lambda: os.execv('/bin/true', ['true']),
    'new namespace': lambda: libc_call('unshare', 0x10000000),      # CLONE_NEWUSER
    'ioctl TIOCSTI': lambda: fcntl.ioctl(read_end, 0x5412, b'x'),
    'ioctl FIOASYNC': lambda: fcntl.ioctl(read_end, 0x5452, struct.pack('i', 1)),
    # What a child needs keeps working:
    'F_GETFL': lambda: fcntl.fcntl(read_end, fcntl.F_GETFL),
    'F_DUPFD_CLOEXEC': lambda: fcntl.fcntl(read_end, fcntl.F_DUPFD_CLOEXEC, 0),
    'prlimit self': lambda: resource.prlimit(0, resource.RLIMIT_AS),
    'prlimit own pid': lambda: resource.prlimit(me, resource.RLIMIT_AS),
    'setpriority self': lambda: os.setpriority(os.PRIO_PROCESS, 0, 1),
    'affinity self': lambda: os.sched_setaffinity(0, os.sched_getaffinity(0)),
    'kill own group': lambda: os.kill(-me, 0),
    'random bytes': lambda: os.urandom(8),
    'isatty': lambda: os.isatty(read_end),
    'files': lambda: open(os.path.join(sys.argv[1], 'probe'), 'w').write('x'),
}
found = {}
for name, attempt in attempts.items():
    try:
        attempt()
        found[name] = 'ok'
    except OSError as e:
        found[name] = errno.errorcode[e.errno]
pid = os.fork()
if pid == 0:
    os._exit(7)
found['fork and wait'] = 'ok' if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7 else 'no'
print(json.dumps(found))
"""


@pytest.mark.skipif(os.uname().machine not in seccomp.NUMBERS,
                    reason="the seccomp filter knows x86_64 and aarch64 only")
@pytest.mark.parametrize('device', ['cpu', 'cuda'])
def test_the_filter_allows_what_a_child_needs_and_nothing_that_reaches_another_process(
        tmp_path, device):
    """The filter, on a plain Python (no sandbox, no torch: fast): every call
    that names another process, or is not on the list, fails with EPERM, which
    student code sees; the calls a child makes on itself work. On CUDA, calls
    off the list are allowed (a socket), never those that reach a process."""
    done = subprocess.run([sys.executable, '-c', SYSCALL_PROBE, str(tmp_path), device],
                          capture_output=True, text=True, cwd=REPO, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    if found is None:
        pytest.skip("this kernel installs no seccomp filter (the sandbox says so in its warning)")
    allowed = [name for name in found if found[name] == 'ok']
    assert sorted(allowed) == sorted(['F_GETFL', 'F_DUPFD_CLOEXEC', 'prlimit self',
                                      'prlimit own pid', 'setpriority self', 'affinity self',
                                      'kill own group', 'random bytes', 'fork and wait',
                                      'isatty', 'files'] + ['socket'] * (device == 'cuda')), found
    assert {found[name] for name in found if name not in allowed} == {'EPERM'}, found


KERNEL_HEADERS = {'x86_64': '/usr/include/x86_64-linux-gnu/asm/unistd_64.h',
                  'aarch64': '/usr/include/asm-generic/unistd.h'}


def _header_numbers(path):
    """{name: number} of a kernel unistd header (aarch64's generic one names
    some calls __NR3264_*, and newfstatat fstatat)."""
    import re
    numbers = {}
    for both, name, number in re.findall(r'#define __NR(3264)?_(\w+) (\d+)', open(path).read()):
        numbers.setdefault('newfstatat' if (both, name) == ('3264', 'fstatat') else name,
                           int(number))
    return numbers


def test_the_filter_is_built_for_both_architectures():
    """Its numbers are the kernel's (where the headers are installed), every
    guarded call exists on both, and the program fits the kernel's limit."""
    for arch, numbers in seccomp.NUMBERS.items():
        for cuda in (False, True):
            code = seccomp.program(1234, arch, cuda)
            assert len(code) % 8 == 0 and len(code) // 8 < 4096
        assert set(seccomp.GUARDED) | {'clone3'} <= set(numbers)
        if os.path.exists(KERNEL_HEADERS[arch]):
            header = _header_numbers(KERNEL_HEADERS[arch])
            assert {name: header.get(name) for name in numbers} == numbers
    assert set(seccomp.ALLOWED) <= set(seccomp.NUMBERS['x86_64'])


def test_given_modules_are_the_trusted_ones_and_missing_modules_cost_their_items(tmp_path):
    submission = make_submission(tmp_path)
    (submission / 'scratchnn' / 'gradcheck.py').write_text("def rel_error(x, y): return 'forged'\n")
    (submission / 'scratchnn' / '__init__.py').write_text("raise SystemExit('broken package')\n")
    (submission / 'scratchnn' / 'optim.py').unlink()
    with SandboxedStudent(submission, spares=0) as student:
        assert isinstance(student.call('gradcheck.rel_error', torch.ones(2), torch.ones(2)).value,
                          (float, torch.Tensor))
        with pytest.raises(StudentError) as err:
            student.call('optim.sgd', torch.ones(1), torch.ones(1))
        assert err.value.kind == 'import' and 'missing' in str(err.value)
        assert student.call('layers.ReLU.forward', -torch.ones(2)).value[0].sum() == 0


def test_a_value_that_is_not_plain_data_is_refused(tmp_path):
    submission = make_submission(tmp_path)
    with open(submission / 'scratchnn' / 'layers.py', 'a') as f:
        f.write("\n\nclass Sneaky(torch.Tensor):\n    pass\n\n\n"
                "def sneaky():\n    return (torch.ones(2).as_subclass(Sneaky),)\n")
    with SandboxedStudent(submission, spares=0) as student:
        with pytest.raises(StudentError) as err:
            student.call('layers.sneaky')
        assert err.value.kind == 'bad_output'


def test_shapes_and_named_tuples_cross_and_the_originals_stay_in_the_child(tmp_path):
    # x.shape in a cache is a torch.Size: it crosses as one. A namedtuple (a
    # class of the student's) crosses as a plain tuple, so an (out, cache)
    # namedtuple unpacks; a reference passes the namedtuple itself back.
    submission = make_submission(tmp_path)
    with open(submission / 'scratchnn' / 'layers.py', 'a') as f:
        f.write("\n\nimport collections\nCache = collections.namedtuple('Cache', 'x shape')\n\n\n"
                "def shaped(x):\n    return x.shape, [x.shape], Cache(x, x.shape)\n\n\n"
                "def unshaped(cache):\n    return tuple(cache.shape)\n")
    with SandboxedStudent(submission, spares=0) as student:
        res = student.call('layers.shaped', torch.ones(2, 3))
        shape, shapes, cache = res.value
        assert type(shape) is torch.Size and shape == (2, 3) and shapes == [torch.Size([2, 3])]
        assert type(cache) is tuple and torch.equal(cache[0], torch.ones(2, 3)) and cache[1] == (2, 3)
        assert student.call('layers.unshaped', res.ref[2]).value == (2, 3)


def test_without_bwrap_limits_still_apply_and_the_warning_is_loud(tmp_path):
    submission = make_submission(tmp_path, ['memory'])
    with SandboxedStudent(submission, sandbox='none', spares=0) as student:
        assert student.sandbox.startswith('none (WARNING')
        with pytest.raises(StudentError) as err:
            student.call('init.xavier_uniform', 3, 4)
        assert err.value.kind == 'memory'


@needs_bwrap
def test_student_code_sees_no_repository_no_submission_and_no_network(tmp_path):
    submission = make_submission(tmp_path / 'alice', ['snoop'])
    (tmp_path / 'gradebook.db').write_text('secret grades')
    suites = sorted((REPO / 'autograder' / 'suites').glob('*.py'))
    before = {p: p.read_bytes() for p in suites}
    with SandboxedStudent(submission, spares=0) as student:
        assert student.sandbox == 'bubblewrap'
        # Not REPO itself: a virtual environment inside the repository is bound
        # into the sandbox at its own path, so that folder exists, holding only it.
        secrets = [str(REPO / 'README.md'), str(REPO / '.git'), str(REPO / 'solutions'),
                   str(REPO / 'autograder' / 'suites'),
                   str(submission), str(tmp_path / 'gradebook.db'), '../../solutions']
        seen = student.call('init.probe_paths', secrets).value
        assert seen == {path: False for path in secrets}
        assert student.call('init.rewrite_suites').value == 0
        assert student.call('init.network').value != 'connected'
    assert {p: p.read_bytes() for p in suites} == before


@pytest.mark.slow
def test_a_module_that_hangs_at_import_fails_every_later_call_at_once(tmp_path):
    """Importing it again would hang again: one timeout, then instant failures."""
    import time
    submission = make_submission(tmp_path)
    optim = submission / 'scratchnn' / 'optim.py'
    optim.write_text("while True:\n    pass\n" + optim.read_text())
    with SandboxedStudent(submission, spares=0, timeout=3.0) as student:
        with pytest.raises(StudentError) as first:
            student.call('optim.sgd', torch.ones(2), torch.ones(2))
        assert first.value.kind == 'timeout' and 'importing optim.py' in str(first.value)
        started = time.monotonic()
        with pytest.raises(StudentError) as again:
            student.call('optim.adam', torch.ones(2), torch.ones(2))
        assert time.monotonic() - started < 1.0
        assert (again.value.kind, str(again.value)) == (first.value.kind, str(first.value))
        assert student.call('layers.ReLU.forward', -torch.ones(2)).value[0].sum() == 0


@pytest.mark.slow
def test_an_item_out_of_its_time_budget_runs_no_more_calls(tmp_path):
    """Every call counts against its item's budget, not only those that time out:
    a slow function costs its item's points, not the class's grading time."""
    import time
    submission = make_submission(tmp_path, ['loop'])   # sgd_momentum loops forever
    with SandboxedStudent(submission, spares=0, timeout=2.0,
                          item_time_budgets={'sgd_momentum': 3.0}) as student:
        student.begin_test('test_a', item='sgd_momentum')
        with pytest.raises(StudentError, match='did not finish within 2 s'):
            student.call('optim.sgd_momentum', torch.ones(2), torch.ones(2))
        with pytest.raises(StudentError, match="ran out of this item's time budget"):
            student.call('optim.sgd_momentum', torch.ones(2), torch.ones(2))
        # cut at the budget, not at the call's timeout (starting a child is not counted)
        assert 3.0 <= student.out_of_time['sgd_momentum'] < 3.5
        student.begin_test('test_b', item='sgd_momentum')
        started = time.monotonic()
        with pytest.raises(StudentError, match='was not run') as err:
            student.call('optim.sgd_momentum', torch.ones(2), torch.ones(2))
        assert err.value.kind == 'timeout' and time.monotonic() - started < 1.0
        student.begin_test('test_c', item='sgd')   # another item still runs
        assert torch.equal(student.call('optim.sgd', torch.ones(2), torch.ones(2)).value[0],
                           torch.ones(2) - 1e-2)


@pytest.mark.slow
def test_the_submission_time_budget_counts_every_call(tmp_path):
    """Calls just under the per-call timeout cannot add up past the submission's budget."""
    submission = make_submission(tmp_path)
    with open(submission / 'scratchnn' / 'optim.py', 'a') as f:
        f.write("\n\ndef slow(x):\n    import time\n    time.sleep(1.2)\n    return x\n")
    with SandboxedStudent(submission, spares=0, timeout=2.0, time_budget=3.0) as student:
        student.call('optim.sgd', torch.ones(2), torch.ones(2))   # the import is not slow
        for item in ('a', 'b', 'c', 'd', 'e'):
            student.begin_test(f'test_{item}', item=item)
            try:
                student.call('optim.slow', torch.ones(1))
            except StudentError as e:
                assert e.kind == 'timeout' and "submission's" in str(e) and 'time budget' in str(e)
        assert student._spent_total < 3.0 + 0.5    # five calls of 1.2 s would be 6 s
        with pytest.raises(StudentError, match="submission's calls together ran out"):
            student.call('optim.sgd', torch.ones(2), torch.ones(2))


LOCKDOWN_ATTEMPTS = '''

def via_backward(x):
    leaf = x.detach().clone().requires_grad_()
    (leaf * leaf).sum().backward()
    return leaf.grad


def via_caught_refusal(x):
    try:
        leaf = torch.tensor([1.0], requires_grad=True)
        (leaf * 2).sum().backward()
    except Exception:
        pass
    return x


def via_enable_grad(x):
    with torch.enable_grad():
        return x


def via_set_grad_enabled(x):
    torch.set_grad_enabled(True)
    return x


def via_c_grad_mode(x):
    torch._C._set_grad_enabled(True)
    return x


def via_attrgetter(x):
    import operator
    return operator.attrgetter('nn.functional.relu')(torch)(x)


def via_given_module(x):
    from .conv import F
    return F.relu(x)


def via_torch_internals(x):
    return torch.functional.F.relu(x)


def via_thread(x):
    import threading
    threading.Thread(target=lambda: None).start()
    return x


def via_pickle(x):
    import pickle
    return pickle.loads(b"ctorch.nn.functional\\nrelu\\n.")(x)


def via_torch_func(x):
    return torch.func.grad(lambda t: (t * t).sum())(x)


def via_returned_leaf(x):
    return torch.zeros(2, requires_grad=True)


def honest_no_grad(x):
    with torch.no_grad():
        return x * 2
'''


PROBES = {
    'layers': LOCKDOWN_ATTEMPTS,
    'dropout': "\n\ndef bound(x, F=torch.nn.functional):\n    return F.relu(x)\n",
    'optim': "\n\ndef start_burner():\n    import os\n    if os.fork() == 0:\n        os.setsid()\n"
             "        while True:\n            pass\n    return 0\n",
    'init': "\n\ndef writable(paths):\n    import os\n    found = []\n    for p in paths:\n"
            "        try:\n            with open(os.path.join(p, 'probe'), 'w') as f:\n"
            "                f.write('x')\n            found.append(p)\n"
            "        except OSError:\n            pass\n    return found\n\n\n"
            "def fill(path):\n    chunk = b'x' * (1 << 20)\n    written = 0\n"
            "    try:\n        with open(path, 'wb') as f:\n            while written < (1 << 30):\n"
            "                f.write(chunk)\n                written += len(chunk)\n"
            "    except OSError:\n        pass\n    return written\n",
}


@pytest.fixture(scope='module')
def probe(tmp_path_factory):
    """One sandboxed submission for the tests below (a sandbox costs seconds):
    layers patches torch, exits in ReLU.forward and tries every route to
    autograd; optim's sgd_momentum tries to kill or starve the processes
    around it; init's kaiming_normal writes its own reply; the other modules
    carry probes."""
    submission = make_submission(tmp_path_factory.mktemp('probe'),
                                 ['monkeypatch', 'exit_in_call', 'reach_parent', 'strides'])
    for module, code in PROBES.items():
        with open(submission / 'scratchnn' / f'{module}.py', 'a') as f:
            f.write(code)
    with SandboxedStudent(submission, spares=0) as student:
        yield student


def test_autograd_and_torch_layers_are_refused_at_run_time_whatever_the_spelling(probe):
    """The lockdown judges behaviour: no rule check runs here, and every route
    to autograd or torch.nn is still a rule violation, even when caught."""
    student = probe
    for name in [n.split('(')[0] for n in LOCKDOWN_ATTEMPTS.split('def ')[1:]
                 if n.startswith('via_')]:
        with pytest.raises(StudentError) as err:
            student.call(f'layers.{name}', torch.ones(2))
        assert err.value.kind == 'rule', (name, str(err.value))
        assert 'not allowed' in str(err.value), name
    assert torch.equal(student.call('layers.honest_no_grad', torch.ones(2)).value,
                       torch.full((2,), 2.0))
    with pytest.raises(StudentError) as err:   # the default argument runs at import
        student.call('dropout.bound', torch.ones(2))
    assert err.value.kind == 'rule' and 'torch.nn.functional' in str(err.value)
    # Trusted given code still uses torch's layers: the conv layer works.
    x, w = torch.randn(2, 3, 5, 5), torch.randn(4, 3, 3, 3)
    res = student.call('conv.Conv.forward', x, w, torch.zeros(4), {'stride': 1, 'pad': 1})
    dx, dw, db = student.call('conv.Conv.backward', torch.ones(2, 4, 5, 5), res.ref[1]).value
    assert dx.shape == x.shape and dw.shape == w.shape


needs_cgroup = pytest.mark.skipif(cgroups.available()[0] is None,
                                  reason=f"no control group ({cgroups.available()[1]})")


@needs_cgroup
def test_a_process_left_running_is_killed_before_the_next_test(probe):
    """A background process, out of its process group, burns no CPU across later
    tests: it is killed from outside, before each test (tests/hostile/budget
    starts one at import)."""
    student = probe
    student.begin_test('test_a', item='sgd')
    student.call('optim.start_burner')
    ours = student.our_pids()
    assert len(student.group.pids() - ours) == 1          # the burner
    student.begin_test('test_b', item='sgd')
    # Gone, and so is the child that started it (it would never reap it); the
    # module goes on in a fresh one.
    ours = student.our_pids()
    assert student.group.pids() == ours and 'optim' not in student._children
    assert student.call('optim.sgd', torch.ones(2), torch.ones(2)).value[0].shape == (2,)


@pytest.mark.slow
def test_without_a_control_group_the_warning_says_what_is_not_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(cgroups, '_STATUS', {'v': (None, 'not here')})
    submission = make_submission(tmp_path)
    with pytest.raises(sandbox.SandboxError, match='not here'):
        SandboxedStudent(submission, sandbox='strict', spares=0)
    with SandboxedStudent(submission, spares=0) as student:
        assert student.group is None
        assert 'WITHOUT a control group (not here)' in student.warning
        assert 'RAM-backed files' in student.warning
        assert student.call('optim.sgd', torch.ones(2), torch.ones(2)).value[0].shape == (2,)


@pytest.mark.slow
@needs_cgroup
def test_without_bubblewrap_what_student_code_leaves_behind_is_reaped_at_once(tmp_path, monkeypatch):
    """Outside bwrap no init of the sandbox reaps, and the host's may take
    seconds (or forever): the zygote adopts the processes its children leave
    behind, so once killed between tests they free the submission's process
    limit at once, and the next module's child starts."""
    monkeypatch.setattr(sandbox, 'bwrap_status', lambda cuda=False: (False, 'not here'))
    submission = make_submission(tmp_path, ['budget'])   # init: a burner at import, 200 forks
    with SandboxedStudent(submission, spares=0) as student:
        assert not student.use_bwrap
        student.begin_test('test_a', item='kaiming_uniform')
        with pytest.raises(StudentError, match='BlockingIOError'):   # at the process limit
            student.call('init.kaiming_uniform', torch.empty(3, 4))
        ours = student.our_pids()
        strays = student.group.pids() - ours
        assert len(strays) > 100
        # The burner's parent exited at import: the zygote took it, not the host's init.
        assert {_parent(pid) for pid in strays} <= ours | strays
        student.begin_test('test_b', item='sgd')
        assert student.call('optim.sgd', torch.ones(2), torch.ones(2)).value[0].shape == (2,)


def _limits_and_nice(pid):
    """The resource limits and the nice value of host process pid."""
    with open(f'/proc/{pid}/limits') as f:
        limits = f.read()
    with open(f'/proc/{pid}/stat') as f:
        nice = int(f.read().rsplit(')', 1)[1].split()[16])
    return limits, nice, os.sched_getaffinity(pid)


def test_no_call_reaches_the_zygote_or_a_sibling(probe):
    """tests/hostile/reach_parent: an async-I/O owner set to another process
    (which the kernel would signal, SIGKILL even), resource limits, priority,
    CPUs or scheduler set on the zygote and every process of the sandbox:
    all refused, so the zygote still forks, siblings still answer, and
    nothing of theirs changed."""
    student = probe
    student.call('init.xavier_normal', 3, 4)
    sibling = student._children['init'][1]
    zygote = student._zygote.proc.pid
    before = _limits_and_nice(zygote), _limits_and_nice(sibling.host_pid)
    with pytest.raises(StudentError) as err:
        student.call('optim.sgd_momentum', torch.ones(3), torch.ones(3))
    assert 'tried to kill or starve' in str(err.value)
    assert (_limits_and_nice(zygote), _limits_and_nice(sibling.host_pid)) == before
    assert student.call('init.xavier_normal', 3, 4).value.shape == (3, 4)
    assert student._children['init'][1] is sibling
    x = torch.randn(4, 5)                       # a fresh fork of the zygote
    out, _ = student.call('normalization.LayerNorm.forward', x, torch.ones(5), torch.zeros(5),
                          {}).value
    assert out.shape == x.shape


def test_a_reply_that_names_its_own_strides_is_refused(probe):
    """tests/hostile/strides: 800 KB that would take 800 MB laid out as the
    child names them; the wire takes no strides, so the reply is refused."""
    with pytest.raises(StudentError) as err:
        probe.call('init.kaiming_normal', 3, 4)
    assert err.value.kind == 'bad_output' and 'layout' in str(err.value)
    assert probe.call('init.xavier_normal', 3, 4).value.shape == (3, 4)


@needs_bwrap
def test_the_only_writable_places_are_small_tmpfs(probe):
    student = probe
    found = student.call('init.writable', ['/', '/dev', '/dev/shm', '/tmp', '/etc', '/grader',
                                           '/usr', '/var/tmp', '/run']).value
    assert sorted(found) == ['/dev/shm', '/tmp']
    for path in ('/dev/shm/big', '/tmp/big'):
        assert student.call('init.fill', path).value <= sandbox.TMP_BYTES


def test_children_fork_from_a_zygote_that_stays_clean(probe):
    """One preloaded process per submission forks the module children: it has
    started no thread (forking stays safe), never imports student code, and a
    child that monkeypatches torch or crashes leaves the next fork untouched."""
    student = probe
    with pytest.raises(StudentError):        # layers' ReLU.forward exits its process
        student.call('layers.ReLU.forward', torch.ones(2))
    assert student._zygote.threads == 1
    # A fresh fork of layers: the exit cost nothing but its own call.
    out, _ = student.call('layers.Linear.forward', torch.ones(2, 3), torch.ones(3, 4),
                          torch.zeros(4)).value
    assert out.shape == (2, 4)
    # optim's child, forked after layers patched torch in its own child, is clean.
    next_w, _ = student.call('optim.sgd', torch.ones(3), torch.ones(3)).value
    assert torch.allclose(next_w, torch.full((3,), 0.99))
    zygote_modules = student._zygote.modules()
    assert 'scratchnn.conv' in zygote_modules
    assert not {'scratchnn.layers', 'scratchnn.optim'} & set(zygote_modules)
    assert len({c.host_pid for _, c in student._children.values()}) == len(student._children)


@pytest.mark.slow
def test_the_old_start_still_works(tmp_path):
    """start='exec' (a fresh Python per module) grades the same way; the benchmark compares."""
    with SandboxedStudent(make_submission(tmp_path), start='exec', spares=0) as student:
        next_w, _ = student.call('optim.sgd', torch.ones(3), torch.ones(3)).value
        assert torch.allclose(next_w, torch.full((3,), 0.99))
        group = student.group
    if group is not None:   # the control group is removed at close
        assert not any(folder.exists() for folder in group.dirs.values())
