"""A seccomp filter by allow-list: a process that runs student code may make
only the system calls a Python process computing on tensors needs, and none
that reaches another process.

    confine()   # in the child, after it leads its own process group

Student processes of one submission share a user id (and, inside one
sandbox, a PID namespace), so any call that names a process could reach the
zygote or a sibling: a signal (kill), an async-I/O signal owner (fcntl
F_SETOWN, ioctl FIOSETOWN) that makes the kernel signal it, a resource limit
(prlimit64) or a priority or CPU set that starves it, its memory (ptrace,
process_vm_writev). Losing the zygote costs every module's items. So:

- default deny: a call outside ALLOWED and GUARDED fails with EPERM (never
  a kill: student code gets an error it can see, and only its item fails);
  clone3 fails with ENOSYS, so that the C library falls back to clone, whose
  flags the filter can read;
- every argument that names a process must name this one (GUARDED): 0 or
  its own pid, and for kill() also its own process group (which it leads);
- fcntl and ioctl take only the commands in FCNTL_COMMANDS and
  IOCTL_REQUESTS (no owner, no signal, no terminal);
- clone may create no namespace; 32-bit and x32 calls are refused
  altogether (their numbers would bypass the ones checked).

The list comes from strace of children grading the full solution (forked
from the zygote, and started afresh with start='exec', which imports torch
under the filter), plus what plain Python, numpy and torch may call on CPU
(memory, files in the sandbox's /tmp, clocks, random bytes, signals to
itself, fork). Everything the process starts inherits the filter, which
cannot be removed. PR_SET_DUMPABLE 0 keeps siblings from opening this
process's /proc/<pid>/mem.

On CUDA (cuda=True) the driver's calls (its ioctls above all) cannot be
enumerated here without a GPU to trace them on, so the filter falls back:
calls outside the lists are allowed, except those in DENIED_ON_CUDA, and
ioctl refuses only the requests in PROCESS_IOCTLS; the argument guards of
GUARDED hold as on CPU.

Supported on x86_64 and aarch64 (numbers from the kernel's unistd headers);
elsewhere confine() returns False and the sandbox says so in its warning.
"""
import ctypes
import errno
import os
import platform
import struct

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
OFF_NR, OFF_ARCH, OFF_ARGS = 0, 4, 16
# BPF opcodes
LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
SECCOMP_RET_ALLOW = 0x7fff0000
SECCOMP_RET_ERRNO = 0x00050000
DENY, NO_SUCH_CALL = SECCOMP_RET_ERRNO | errno.EPERM, SECCOMP_RET_ERRNO | errno.ENOSYS
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_SET_DUMPABLE = 38, 22, 4
SECCOMP_MODE_FILTER = 2
X32_SYSCALL_BIT = 0x40000000
AUDIT_ARCH = {'x86_64': 0xC000003E, 'aarch64': 0xC00000B7}

# Calls allowed whatever their arguments: they act on this process, its own
# files and memory, or its own children. Most frequent first (the filter
# tests them in order).
ALLOWED = (
    'read', 'write', 'newfstatat', 'mmap', 'munmap', 'lseek', 'openat', 'close', 'futex',
    'brk', 'fstat', 'statx', 'getdents64', 'mprotect', 'madvise', 'mremap', 'getrandom',
    'readv', 'writev', 'pread64', 'pwrite64', 'preadv', 'pwritev', 'preadv2', 'pwritev2',
    'open', 'close_range', 'stat', 'lstat', 'statfs', 'fstatfs', 'getxattr', 'lgetxattr',
    'fgetxattr', 'listxattr', 'llistxattr', 'flistxattr', 'access', 'faccessat',
    'faccessat2', 'readlink', 'readlinkat', 'getcwd', 'chdir', 'fchdir', 'mkdir', 'mkdirat',
    'rmdir', 'unlink', 'unlinkat', 'rename', 'renameat', 'renameat2', 'ftruncate', 'truncate',
    'fsync', 'fdatasync', 'fadvise64', 'fallocate', 'umask', 'flock', 'chmod', 'fchmod',
    'fchmodat', 'utimensat', 'copy_file_range', 'sendfile', 'dup', 'dup2', 'dup3', 'pipe',
    'pipe2', 'poll', 'ppoll', 'select', 'pselect6', 'memfd_create',
    'msync', 'mincore', 'mbind', 'get_mempolicy', 'set_mempolicy', 'membarrier',
    'getpid', 'getppid', 'gettid', 'getpgrp', 'getpgid', 'getsid', 'setsid', 'setpgid',
    'getuid', 'geteuid', 'getgid', 'getegid', 'getgroups', 'getresuid', 'getresgid', 'capget',
    'uname', 'sysinfo', 'getrusage', 'times', 'getrlimit', 'setrlimit',
    'sched_yield', 'sched_get_priority_max', 'sched_get_priority_min', 'getcpu', 'arch_prctl',
    'set_tid_address', 'set_robust_list', 'rseq', 'prctl', 'fork', 'vfork', 'wait4', 'waitid',
    'exit', 'exit_group', 'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'rt_sigpending',
    'rt_sigsuspend', 'rt_sigtimedwait', 'sigaltstack', 'pause', 'alarm', 'setitimer',
    'getitimer', 'timer_create', 'timer_settime', 'timer_gettime', 'timer_getoverrun',
    'timer_delete', 'clock_gettime', 'clock_getres', 'clock_nanosleep', 'nanosleep',
    'gettimeofday', 'time', 'restart_syscall',
)

# A value an argument must take: this process's pid, or minus it (its process group).
SELF, OWN_GROUP = 'self', 'own group'
PRIO_PROCESS = 0
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
CLONE_NAMESPACES = (0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
                    | 0x20000000 | 0x40000000 | 0x00000080)
# fcntl: descriptors, status flags, locks, pipes, seals; never F_SETOWN(_EX),
# F_SETSIG, F_SETLEASE or F_NOTIFY, which make the kernel signal someone.
FCNTL_COMMANDS = (0, 1, 2, 3, 4, 5, 6, 7, 9, 11, 16, 36, 37, 38, 1025, 1030, 1031, 1032,
                  1033, 1034)
# ioctl: TCGETS, TIOCGWINSZ, FIONREAD, FIONBIO, FIONCLEX, FIOCLEX (is it a
# terminal, how much to read, blocking, close-on-exec).
IOCTL_REQUESTS = (0x5401, 0x5413, 0x541B, 0x5421, 0x5450, 0x5451)
# Requests that name an owner, a process group or a terminal (refused on CUDA):
# FIOSETOWN, SIOCSPGRP, TIOCSPGRP, TIOCSCTTY, TIOCSTI, FIOASYNC, TIOCCONS,
# TIOCLINUX, TIOCNOTTY, TIOCSETD.
PROCESS_IOCTLS = (0x8901, 0x8902, 0x5410, 0x540E, 0x5412, 0x5452, 0x541D, 0x541C, 0x5422,
                  0x5423)


def _is(*values):
    return ('in', frozenset(values))


def _self_only(arg=0):
    return {arg: _is(0, SELF)}


# Calls allowed only with these arguments: {argument index: (test, values)},
# every test must hold. The kernel reads each of these arguments as 32 bits
# (pid_t, int, unsigned int), so the low 32 bits are what is compared.
GUARDED = {
    'kill': {0: _is(0, SELF, OWN_GROUP)},
    'tkill': {0: _is(SELF)}, 'tgkill': {0: _is(SELF)},
    'rt_sigqueueinfo': {0: _is(SELF)}, 'rt_tgsigqueueinfo': {0: _is(SELF)},
    'prlimit64': _self_only(),
    'getpriority': {0: _is(PRIO_PROCESS), 1: _is(0, SELF)},
    'setpriority': {0: _is(PRIO_PROCESS), 1: _is(0, SELF)},
    'sched_getaffinity': _self_only(), 'sched_setaffinity': _self_only(),
    'sched_getparam': _self_only(), 'sched_setparam': _self_only(),
    'sched_getscheduler': _self_only(), 'sched_setscheduler': _self_only(),
    'sched_getattr': _self_only(), 'sched_setattr': _self_only(),
    'fcntl': {1: ('in', frozenset(FCNTL_COMMANDS))},
    'ioctl': {1: ('in', frozenset(IOCTL_REQUESTS))},
    'clone': {0: ('no bits', CLONE_NAMESPACES)},
}
# On CUDA, where calls outside the lists are allowed: those that reach
# another process or leave the filter's view.
DENIED_ON_CUDA = (
    'ptrace', 'process_vm_readv', 'process_vm_writev', 'pidfd_send_signal', 'pidfd_open',
    'pidfd_getfd', 'kcmp', 'migrate_pages', 'move_pages', 'process_madvise',
    'process_mrelease', 'ioprio_set', 'get_robust_list', 'perf_event_open', 'bpf',
    'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'userfaultfd', 'unshare', 'setns',
    'keyctl', 'add_key', 'request_key', 'execve', 'execveat',
)

# System call numbers, from <asm/unistd_64.h> (x86_64) and <asm-generic/unistd.h>
# (aarch64); a name missing from an architecture does not exist there.
NUMBERS = {
    'x86_64': {
        'read': 0, 'write': 1, 'readv': 19, 'writev': 20, 'pread64': 17, 'pwrite64': 18,
        'preadv': 295, 'pwritev': 296, 'preadv2': 327, 'pwritev2': 328, 'lseek': 8, 'open': 2,
        'openat': 257, 'close': 3, 'close_range': 436, 'stat': 4, 'fstat': 5, 'lstat': 6,
        'newfstatat': 262, 'statx': 332, 'statfs': 137, 'fstatfs': 138, 'getxattr': 191,
        'lgetxattr': 192, 'fgetxattr': 193, 'listxattr': 194, 'llistxattr': 195, 'flistxattr': 196,
        'access': 21, 'faccessat': 269, 'faccessat2': 439, 'readlink': 89, 'readlinkat': 267,
        'getdents64': 217, 'getcwd': 79, 'chdir': 80, 'fchdir': 81, 'mkdir': 83, 'mkdirat': 258,
        'rmdir': 84, 'unlink': 87, 'unlinkat': 263, 'rename': 82, 'renameat': 264,
        'renameat2': 316, 'ftruncate': 77, 'truncate': 76, 'fsync': 74, 'fdatasync': 75,
        'fadvise64': 221, 'fallocate': 285, 'umask': 95, 'flock': 73, 'chmod': 90, 'fchmod': 91,
        'fchmodat': 268, 'utimensat': 280, 'copy_file_range': 326, 'sendfile': 40, 'dup': 32,
        'dup2': 33, 'dup3': 292, 'pipe': 22, 'pipe2': 293, 'poll': 7, 'ppoll': 271, 'select': 23,
        'pselect6': 270, 'memfd_create': 319, 'brk': 12, 'mmap': 9, 'munmap': 11, 'mremap': 25,
        'mprotect': 10, 'madvise': 28, 'msync': 26, 'mincore': 27, 'mbind': 237,
        'get_mempolicy': 239, 'set_mempolicy': 238, 'membarrier': 324, 'getpid': 39,
        'getppid': 110, 'gettid': 186, 'getpgrp': 111, 'getpgid': 121, 'getsid': 124,
        'setsid': 112, 'setpgid': 109, 'getuid': 102, 'geteuid': 107, 'getgid': 104,
        'getegid': 108, 'getgroups': 115, 'getresuid': 118, 'getresgid': 120, 'capget': 125,
        'uname': 63, 'sysinfo': 99, 'getrusage': 98, 'times': 100, 'getrlimit': 97,
        'setrlimit': 160, 'sched_yield': 24, 'sched_get_priority_max': 146,
        'sched_get_priority_min': 147, 'getcpu': 309, 'arch_prctl': 158, 'set_tid_address': 218,
        'set_robust_list': 273, 'rseq': 334, 'prctl': 157, 'futex': 202, 'fork': 57, 'vfork': 58,
        'wait4': 61, 'waitid': 247, 'exit': 60, 'exit_group': 231, 'rt_sigaction': 13,
        'rt_sigprocmask': 14, 'rt_sigreturn': 15, 'rt_sigpending': 127, 'rt_sigsuspend': 130,
        'rt_sigtimedwait': 128, 'sigaltstack': 131, 'pause': 34, 'alarm': 37, 'setitimer': 38,
        'getitimer': 36, 'timer_create': 222, 'timer_settime': 223, 'timer_gettime': 224,
        'timer_getoverrun': 225, 'timer_delete': 226, 'clock_gettime': 228, 'clock_getres': 229,
        'clock_nanosleep': 230, 'nanosleep': 35, 'gettimeofday': 96, 'time': 201, 'getrandom': 318,
        'restart_syscall': 219, 'kill': 62, 'tkill': 200, 'tgkill': 234, 'rt_sigqueueinfo': 129,
        'rt_tgsigqueueinfo': 297, 'prlimit64': 302, 'getpriority': 140, 'setpriority': 141,
        'sched_getaffinity': 204, 'sched_setaffinity': 203, 'sched_getparam': 143,
        'sched_setparam': 142, 'sched_getscheduler': 145, 'sched_setscheduler': 144,
        'sched_getattr': 315, 'sched_setattr': 314, 'fcntl': 72, 'ioctl': 16, 'clone': 56,
        'clone3': 435, 'eventfd2': 290, 'epoll_create1': 291, 'epoll_ctl': 233, 'epoll_wait': 232,
        'epoll_pwait': 281, 'ptrace': 101, 'process_vm_readv': 310, 'process_vm_writev': 311,
        'pidfd_send_signal': 424, 'pidfd_open': 434, 'pidfd_getfd': 438, 'kcmp': 312,
        'migrate_pages': 256, 'move_pages': 279, 'process_madvise': 440, 'process_mrelease': 448,
        'ioprio_set': 251, 'get_robust_list': 274, 'perf_event_open': 298, 'bpf': 321,
        'io_uring_setup': 425, 'io_uring_enter': 426, 'io_uring_register': 427, 'userfaultfd': 323,
        'unshare': 272, 'setns': 308, 'keyctl': 250, 'add_key': 248, 'request_key': 249,
        'execve': 59, 'execveat': 322,
    },
    'aarch64': {
        'read': 63, 'write': 64, 'readv': 65, 'writev': 66, 'pread64': 67, 'pwrite64': 68,
        'preadv': 69, 'pwritev': 70, 'preadv2': 286, 'pwritev2': 287, 'lseek': 62, 'openat': 56,
        'close': 57, 'close_range': 436, 'fstat': 80, 'newfstatat': 79, 'statx': 291, 'statfs': 43,
        'fstatfs': 44, 'getxattr': 8, 'lgetxattr': 9, 'fgetxattr': 10, 'listxattr': 11,
        'llistxattr': 12, 'flistxattr': 13, 'faccessat': 48, 'faccessat2': 439, 'readlinkat': 78,
        'getdents64': 61, 'getcwd': 17, 'chdir': 49, 'fchdir': 50, 'mkdirat': 34, 'unlinkat': 35,
        'renameat': 38, 'renameat2': 276, 'ftruncate': 46, 'truncate': 45, 'fsync': 82,
        'fdatasync': 83, 'fadvise64': 223, 'fallocate': 47, 'umask': 166, 'flock': 32,
        'fchmod': 52, 'fchmodat': 53, 'utimensat': 88, 'copy_file_range': 285, 'sendfile': 71,
        'dup': 23, 'dup3': 24, 'pipe2': 59, 'ppoll': 73, 'pselect6': 72, 'memfd_create': 279,
        'brk': 214, 'mmap': 222, 'munmap': 215, 'mremap': 216, 'mprotect': 226, 'madvise': 233,
        'msync': 227, 'mincore': 232, 'mbind': 235, 'get_mempolicy': 236, 'set_mempolicy': 237,
        'membarrier': 283, 'getpid': 172, 'getppid': 173, 'gettid': 178, 'getpgid': 155,
        'getsid': 156, 'setsid': 157, 'setpgid': 154, 'getuid': 174, 'geteuid': 175, 'getgid': 176,
        'getegid': 177, 'getgroups': 158, 'getresuid': 148, 'getresgid': 150, 'capget': 90,
        'uname': 160, 'sysinfo': 179, 'getrusage': 165, 'times': 153, 'getrlimit': 163,
        'setrlimit': 164, 'sched_yield': 124, 'sched_get_priority_max': 125,
        'sched_get_priority_min': 126, 'getcpu': 168, 'set_tid_address': 96, 'set_robust_list': 99,
        'rseq': 293, 'prctl': 167, 'futex': 98, 'wait4': 260, 'waitid': 95, 'exit': 93,
        'exit_group': 94, 'rt_sigaction': 134, 'rt_sigprocmask': 135, 'rt_sigreturn': 139,
        'rt_sigpending': 136, 'rt_sigsuspend': 133, 'rt_sigtimedwait': 137, 'sigaltstack': 132,
        'setitimer': 103, 'getitimer': 102, 'timer_create': 107, 'timer_settime': 110,
        'timer_gettime': 108, 'timer_getoverrun': 109, 'timer_delete': 111, 'clock_gettime': 113,
        'clock_getres': 114, 'clock_nanosleep': 115, 'nanosleep': 101, 'gettimeofday': 169,
        'getrandom': 278, 'restart_syscall': 128, 'kill': 129, 'tkill': 130, 'tgkill': 131,
        'rt_sigqueueinfo': 138, 'rt_tgsigqueueinfo': 240, 'prlimit64': 261, 'getpriority': 141,
        'setpriority': 140, 'sched_getaffinity': 123, 'sched_setaffinity': 122,
        'sched_getparam': 121, 'sched_setparam': 118, 'sched_getscheduler': 120,
        'sched_setscheduler': 119, 'sched_getattr': 275, 'sched_setattr': 274, 'fcntl': 25,
        'ioctl': 29, 'clone': 220, 'clone3': 435, 'eventfd2': 19, 'epoll_create1': 20,
        'epoll_ctl': 21, 'epoll_pwait': 22, 'ptrace': 117, 'process_vm_readv': 270,
        'process_vm_writev': 271, 'pidfd_send_signal': 424, 'pidfd_open': 434, 'pidfd_getfd': 438,
        'kcmp': 272, 'migrate_pages': 238, 'move_pages': 239, 'process_madvise': 440,
        'process_mrelease': 448, 'ioprio_set': 30, 'get_robust_list': 100, 'perf_event_open': 241,
        'bpf': 280, 'io_uring_setup': 425, 'io_uring_enter': 426, 'io_uring_register': 427,
        'userfaultfd': 282, 'unshare': 97, 'setns': 268, 'keyctl': 219, 'add_key': 217,
        'request_key': 218, 'execve': 221, 'execveat': 281,
    },
}


def _insn(code, jt, jf, k):
    return struct.pack('HBBI', code, jt, jf, k & 0xFFFFFFFF)


def _value(v, pid):
    """A value of GUARDED, resolved for the process pid (as the kernel's 32 bits)."""
    return {SELF: pid, OWN_GROUP: -pid}.get(v, v) & 0xFFFFFFFF


def _guard(tests, pid):
    """The instructions checking one guarded call's arguments: they end in a
    return, ALLOW if every test holds, else DENY."""
    out = []
    for arg, (kind, values) in sorted(tests.items()):
        out.append(_insn(LD_W_ABS, 0, 0, OFF_ARGS + 8 * arg))   # the low 32 bits
        if kind == 'no bits':
            out += [_insn(JSET_K, 0, 1, values), _insn(RET_K, 0, 0, DENY)]
        elif kind == 'not in':
            for v in sorted(values):
                out += [_insn(JEQ_K, 0, 1, v), _insn(RET_K, 0, 0, DENY)]
        else:
            values = sorted({_value(v, pid) for v in values})
            for i, v in enumerate(values):    # a match jumps past the others and the DENY
                out.append(_insn(JEQ_K, len(values) - i, 0, v))
            out.append(_insn(RET_K, 0, 0, DENY))
    return out + [_insn(RET_K, 0, 0, SECCOMP_RET_ALLOW)]


def _guarded(cuda):
    """GUARDED, where on CUDA ioctl only refuses the requests that reach processes."""
    if not cuda:
        return GUARDED
    return dict(GUARDED, ioctl={1: ('not in', frozenset(PROCESS_IOCTLS))})


def program(pid, arch, cuda=False):
    """The filter's instructions (bytes) for the process pid (which leads its
    own process group), on arch ('x86_64' or 'aarch64'); see the module docstring."""
    nr = NUMBERS[arch]
    out = [
        _insn(LD_W_ABS, 0, 0, OFF_ARCH),
        _insn(JEQ_K, 1, 0, AUDIT_ARCH[arch]),
        _insn(RET_K, 0, 0, DENY),                       # another ABI: refused
        _insn(LD_W_ABS, 0, 0, OFF_NR),
        _insn(JGE_K, 0, 1, X32_SYSCALL_BIT),
        _insn(RET_K, 0, 0, DENY),                       # x32 numbers: refused
        _insn(JEQ_K, 0, 1, nr['clone3']),
        _insn(RET_K, 0, 0, NO_SUCH_CALL),               # its flags are out of reach
    ]
    for name in ALLOWED:
        if name in nr:
            out += [_insn(JEQ_K, 0, 1, nr[name]), _insn(RET_K, 0, 0, SECCOMP_RET_ALLOW)]
    # Each guard ends in a return: skipped, the accumulator still holds nr.
    for name, tests in _guarded(cuda).items():
        guard = _guard(tests, pid)
        out += [_insn(JEQ_K, 0, len(guard), nr[name])] + guard
    if cuda:
        for name in DENIED_ON_CUDA:
            out += [_insn(JEQ_K, 0, 1, nr[name]), _insn(RET_K, 0, 0, DENY)]
    out.append(_insn(RET_K, 0, 0, SECCOMP_RET_ALLOW if cuda else DENY))
    return b''.join(out)


def not_dumpable():
    """No process of our user may read or write this one's memory (/proc/<pid>/mem, ptrace)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


class _SockFprog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]


def confine(cuda=False):
    """Install the filter for this process (pid == its process group). True if installed."""
    arch = platform.machine()
    if arch not in NUMBERS:
        return False
    code = program(os.getpid(), arch, cuda)
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        return False
    return True
