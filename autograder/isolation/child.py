"""The processes that run student code: the other end of sandbox.SandboxedStudent.

They are started by the grader inside the sandbox, from a private copy of
this package next to the assembled `scratchnn` package, in one of two ways:

- zygote() (the default): one process per submission imports torch and the
  given modules once, locks itself down (below), and then forks one child
  per student module on request (`fork`, with the child's channel and log
  file passed as file descriptors over its control socket), so a child
  starts in milliseconds instead of seconds. It never imports student code
  and starts no thread (set_num_threads(1), no CUDA): forking stays safe,
  and each child, on CUDA, initialises CUDA itself. It reports how its
  children ended (`wait`), and it is the reaper of the processes its
  children leave behind: killed, they are gone at once, not zombies that
  fill the submission's process limit until some init reaps them (bwrap's
  init does so promptly, but without bwrap the host's may take seconds, or
  never).
- main(): one fresh Python per child (the way before the zygote; the
  benchmark compares both).

A child speaks protocol.py on its channel; its stdout and stderr go to its
capped log file, so whatever the student's code prints never mixes with
the replies. Every reply is {'ok': True, 'reply': ...} or {'ok': False,
'kind': ..., 'message': ...} (a StudentError). Besides the Executor's ops it
knows '__init__' (which package, its given modules, which reference ids to
start from). A request may carry 'seed': every generator is reseeded from it
before the request runs (the grader adds it to a child's first request in
each test).

Before any student code is imported a child is confined: it leads its own
process group, a seccomp filter allows only the system calls it needs and
none that reaches another process (seccomp.py), it has its own memory
limit, and autograd and torch's layers are locked away from student code
(lockdown.py; in the zygote, before forking).
"""
import json
import os
import random
import resource
import signal
import socket
import sys


CUDA_ENV = 'GRADER_CUDA'     # '1' in the environment of a child grading on CUDA


def _take_channel():
    """(reader, writer) of the protocol; fds 0 and 1 no longer reach it."""
    reader = os.fdopen(os.dup(0), 'rb')
    writer = os.fdopen(os.dup(1), 'wb')
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout.reconfigure(line_buffering=True)  # killed children lose no lines
    return reader, writer


def _seed(seed):
    import numpy
    import torch
    random.seed(seed)
    numpy.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Server:
    """Answers the grader's requests, one at a time."""

    def __init__(self):
        self.executor = None

    def start(self, message):
        """Lock student code out of autograd (unless the zygote did), make the Executor."""
        from . import lockdown
        from .executor import Executor
        prepare(message['package'], message.get('given_modules', ()),
                message.get('trusted_modules', ()))
        self.executor = Executor(message['package'], first_id=message['first_id'],
                                 attempts=lockdown.take_attempts)
        return {}

    def serve(self, message):
        from .student import StudentError
        op = message.get('op')
        try:
            if op == '__init__':
                return {'ok': True, 'reply': self.start(message)}
            if 'seed' in message:
                _seed(message.pop('seed'))
            return {'ok': True, 'reply': self.executor.handle(message)}
        except StudentError as e:
            return {'ok': False, 'kind': e.kind, 'message': str(e)}
        except KeyError as e:  # a reference this process does not hold
            return {'ok': False, 'kind': 'exception', 'message': f"unknown reference {e}"}
        except Exception as e:
            return {'ok': False, 'kind': 'exception', 'message': f"{type(e).__name__}: {e}"}
        except SystemExit as e:  # sys.exit while a module was being imported
            return {'ok': False, 'kind': 'crash', 'message': f"called sys.exit({e.code!r})"}


def load_torch_lazy_parts():
    """Import what torch loads only at the first operation on a 'meta' tensor
    (torch._dynamo, sympy: about 1 s), which the suites' device checks make:
    once, in a process that forks or runs many calls, rather than in each."""
    import torch
    (torch.ones(2, device='meta') * 2).sum()


def prepare(package, given_modules, trusted_modules):
    """Import the given modules and torch's lazily loaded parts, then lock down (once)."""
    import importlib
    from . import lockdown
    if lockdown.installed():
        return
    for name in given_modules:
        importlib.import_module(f"{package}.{name}")
    load_torch_lazy_parts()     # before forking: once per sandbox, not per child
    folder = os.path.dirname(importlib.import_module(package).__file__)
    trusted = [os.path.join(folder, f"{name}.py") for name in trusted_modules]
    lockdown.install(trusted=[os.path.join(os.path.dirname(__file__), '')] + trusted,
                     boundary=__file__)


def _send(writer, envelope):
    from . import protocol
    try:
        data = protocol.dumps(envelope)
    except protocol.TooLarge as e:
        data = protocol.dumps({'ok': False, 'kind': 'bad_output',
                               'message': f"sent back too much: {e}"})
    except Exception as e:  # the student's value cannot be serialized
        data = protocol.dumps({'ok': False, 'kind': 'bad_output',
                               'message': f"the result could not be sent back: "
                                          f"{type(e).__name__}: {e}"})
    writer.write(protocol.HEADER.pack(len(data)) + data)
    writer.flush()


def _serve(reader, writer, hello):
    """Answer requests on the channel until the grader closes it."""
    from . import protocol
    server = Server()
    _send(writer, hello)
    while True:
        try:
            message = protocol.read_message(reader)
        except EOFError:
            return
        _send(writer, server.serve(message))


def _confine():
    """Own process group, SIGXFSZ ignored, system calls confined; True if seccomp holds."""
    from . import seccomp
    # Past the size limit a write fails with EFBIG instead of killing us.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if os.getpgrp() != os.getpid():
        os.setsid()
    # The grader says so in the environment (sandbox.child_env) when we grade on CUDA.
    return seccomp.confine(cuda=os.environ.get(CUDA_ENV) == '1')


def main():
    """One fresh Python per child: the channel is stdin/stdout."""
    reader, writer = _take_channel()
    confined = _confine()
    import torch
    torch.set_num_threads(1)  # deterministic and fair on shared cores
    _serve(reader, writer, {'ready': True, 'signals_confined': confined})


# ---------------------------------------------------------------- the zygote

def _control_send(control, message):
    control.send(json.dumps(message).encode())


def _child(channel_fd, log_fd, memory_bytes, memory_resource):
    """In a freshly forked child: confine it and serve its channel. Never returns."""
    code = 0
    try:
        # The zygote's reaper is not the student's.
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        resource.setrlimit(memory_resource, (memory_bytes, memory_bytes))
        confined = _confine()
        random.seed(os.getpid())
        reader = os.fdopen(channel_fd, 'rb', buffering=0)
        writer = os.fdopen(os.dup(channel_fd), 'wb')
        sys.stdout.reconfigure(line_buffering=True)  # killed children lose no lines
        _serve(reader, writer, {'ready': True, 'signals_confined': confined})
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        os._exit(code)


def zygote(package, given_modules, trusted_modules):
    """One process per submission that forks the children (see the module docstring).

    Control: a SOCK_SEQPACKET socket on fd 0; each message is one JSON object.
    {'op': 'fork', 'memory_bytes': n, 'memory_resource': 'AS'|'DATA'} with two
    fds (the child's channel, its log) -> {'pid': pid in this PID namespace}
    or {'error': why} (fork failed);
    {'op': 'wait', 'pid': p, 'timeout': s} -> {'status': waitpid status or None};
    {'op': 'modules'} -> {'modules': the names in its sys.modules}.
    """
    from . import seccomp
    control = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    seccomp.not_dumpable()          # its children may not read or write its memory
    import torch
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    prepare(package, given_modules, trusted_modules)
    with open('/proc/self/status') as f:
        threads = next(int(line.split()[1]) for line in f if line.startswith('Threads:'))
    _control_send(control, {'ready': True, 'threads': threads})
    forked, statuses = set(), {}
    _become_reaper(forked, statuses)
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, 1 << 16, 2)
        except OSError:
            return
        if not data:
            return
        message = json.loads(data)
        if message['op'] == 'fork':
            sys.stdout.flush()
            sys.stderr.flush()
            # No reaping until the new pid is in forked: its status must be kept.
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
            try:
                pid = os.fork()
            except OSError as e:   # the submission is at its process limit
                pid, error = None, f"{type(e).__name__}: {e}"
            if pid == 0:
                control.close()
                _child(fds[0], fds[1], message['memory_bytes'],
                       getattr(resource, f"RLIMIT_{message['memory_resource']}"))
            if pid:
                forked.add(pid)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])
            for fd in fds:
                os.close(fd)
            _control_send(control, {'pid': pid} if pid else {'error': error})
        elif message['op'] == 'wait':
            _control_send(control, {'status': _wait(message['pid'], message['timeout'], statuses)})
        elif message['op'] == 'modules':   # for tests: what the zygote has imported
            _control_send(control, {'modules': sorted(sys.modules)})


def _become_reaper(forked, statuses):
    """Adopt the orphans of our children (PR_SET_CHILD_SUBREAPER) and reap every
    child the moment it ends (SIGCHLD), keeping the statuses of those we forked."""
    import ctypes
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    def reap(*_):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in forked:
                forked.discard(pid)
                statuses[pid] = status

    signal.signal(signal.SIGCHLD, reap)
    reap()


def _wait(pid, timeout, statuses):
    """pid's waitpid status, waiting up to timeout seconds; None if still running."""
    import time
    deadline = time.monotonic() + timeout
    while pid not in statuses:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:   # reaped meanwhile (SIGCHLD), or never ours
            return statuses.pop(pid, None)
        if done:
            return status
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)
    return statuses.pop(pid)


if __name__ == '__main__':
    sys.exit(main())
