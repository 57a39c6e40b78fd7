"""The process that runs student code: the other end of sandbox.SandboxedStudent.

It is started by the grader inside the sandbox, from a private copy of this
package next to the assembled `scratchnn` package. It speaks protocol.py on
the two pipes it was given as stdin and stdout, then points fd 0 at
/dev/null and fd 1 at fd 2 (the capped log file), so that whatever the
student's code prints never mixes with the replies.

Every reply is {'ok': True, 'reply': ...} or {'ok': False, 'kind': ...,
'message': ...} (a StudentError). Besides the Executor's ops it knows
'__init__' (which package, its given modules, which reference ids to start
from) and '__seed__' (reseed every generator, sent before each test).

Before any student code is imported the process is confined: a seccomp
filter lets it signal only itself (seccomp.py), and the given modules are
imported, then autograd and torch's layers are locked away from student
code (lockdown.py).
"""
import os
import random
import signal
import sys


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
        from .student import Executor
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
            if op == '__seed__':
                _seed(message['seed'])
                return {'ok': True, 'reply': {}}
            return {'ok': True, 'reply': self.executor.handle(message)}
        except StudentError as e:
            return {'ok': False, 'kind': e.kind, 'message': str(e)}
        except KeyError as e:  # a reference this process does not hold
            return {'ok': False, 'kind': 'exception', 'message': f"unknown reference {e}"}
        except Exception as e:
            return {'ok': False, 'kind': 'exception', 'message': f"{type(e).__name__}: {e}"}
        except SystemExit as e:  # sys.exit while a module was being imported
            return {'ok': False, 'kind': 'crash', 'message': f"called sys.exit({e.code!r})"}


def prepare(package, given_modules, trusted_modules):
    """Import the given modules and torch's lazily loaded parts, then lock down (once)."""
    import importlib
    import torch
    from . import lockdown
    if lockdown.installed():
        return
    for name in given_modules:
        importlib.import_module(f"{package}.{name}")
    # The first operation on a 'meta' tensor (the suites test devices with
    # them) imports a large part of torch: do it now, before any timed call.
    (torch.ones(2, device='meta') * 2).sum()
    folder = os.path.dirname(importlib.import_module(package).__file__)
    trusted = [os.path.join(folder, f"{name}.py") for name in trusted_modules]
    lockdown.install(trusted=[os.path.join(os.path.dirname(__file__), '')] + trusted,
                     boundary=__file__)


def _send(writer, envelope):
    from . import protocol
    try:
        data = protocol.dumps(envelope)
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
    """Own process group, SIGXFSZ ignored, signals confined; True if seccomp holds."""
    from . import seccomp
    # Past the size limit a write fails with EFBIG instead of killing us.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if os.getpgrp() != os.getpid():
        os.setsid()
    return seccomp.confine_signals()


def main():
    """One fresh Python per child: the channel is stdin/stdout."""
    reader, writer = _take_channel()
    confined = _confine()
    import torch
    torch.set_num_threads(1)  # deterministic and fair on shared cores
    _serve(reader, writer, {'ready': True, 'signals_confined': confined})


if __name__ == '__main__':
    sys.exit(main())
