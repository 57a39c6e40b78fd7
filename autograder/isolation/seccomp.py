"""A seccomp filter: a process that runs student code can signal only itself.

    confine_signals()   # in the child, after it leads its own process group

Student processes of one submission share a user id (and, inside one
sandbox, a PID namespace), so without this a module's code could kill or
stop its siblings, the sandbox's own processes or, unsandboxed, anything the
grader's user owns (`kill(-1, SIGKILL)`), costing other modules' items. The
filter, a classic BPF program installed with prctl (no dependency), lets
kill() reach only 0 (its own group), its own pid and its own process group,
and tgkill/tkill/rt_(tg)sigqueueinfo only its own process; it refuses (EPERM)
pidfd signals, ptrace and process_vm_readv/writev, which would reach into a
sibling. Everything the process starts inherits the filter, which cannot be
removed. 32-bit and x32 system calls are refused altogether (they would
bypass the numbers checked). PR_SET_DUMPABLE 0 keeps siblings from opening
this process's /proc/<pid>/mem.

Supported on x86_64 and aarch64; elsewhere confine_signals() returns False
and the sandbox says so in its warning.
"""
import ctypes
import errno
import os
import platform
import struct

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
OFF_NR, OFF_ARCH, OFF_ARGS = 0, 4, 16
# BPF opcodes
LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06
JGE_K = 0x35
SECCOMP_RET_ALLOW = 0x7fff0000
SECCOMP_RET_ERRNO = 0x00050000
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_SET_DUMPABLE = 38, 22, 4
SECCOMP_MODE_FILTER = 2
X32_SYSCALL_BIT = 0x40000000

ARCHES = {
    'x86_64': {'audit': 0xC000003E, 'kill': 62, 'tkill': 200, 'tgkill': 234,
               'rt_sigqueueinfo': 129, 'rt_tgsigqueueinfo': 297, 'ptrace': 101,
               'process_vm_readv': 310, 'process_vm_writev': 311, 'pidfd_send_signal': 424,
               'pidfd_open': 434, 'pidfd_getfd': 438},
    'aarch64': {'audit': 0xC00000B7, 'kill': 129, 'tkill': 130, 'tgkill': 131,
                'rt_sigqueueinfo': 138, 'rt_tgsigqueueinfo': 240, 'ptrace': 117,
                'process_vm_readv': 270, 'process_vm_writev': 271, 'pidfd_send_signal': 424,
                'pidfd_open': 434, 'pidfd_getfd': 438},
}
DENIED = ('ptrace', 'process_vm_readv', 'process_vm_writev', 'pidfd_send_signal',
          'pidfd_open', 'pidfd_getfd')
# The first argument (its low 32 bits: the kernel reads a pid_t) must be one
# of the process's own ids.
FIRST_ARG_OWN = ('tkill', 'tgkill', 'rt_sigqueueinfo', 'rt_tgsigqueueinfo')


def _insn(code, jt, jf, k):
    return struct.pack('HBBI', code, jt, jf, k & 0xFFFFFFFF)


def program(pid, arch):
    """The filter's instructions (bytes) for a process whose pid (and group) is pid."""
    nr = ARCHES[arch]
    deny = SECCOMP_RET_ERRNO | errno.EPERM
    out = [
        _insn(LD_W_ABS, 0, 0, OFF_ARCH),
        _insn(JEQ_K, 1, 0, nr['audit']),
        _insn(RET_K, 0, 0, deny),                       # another ABI: refused
        _insn(LD_W_ABS, 0, 0, OFF_NR),
        _insn(JGE_K, 0, 1, X32_SYSCALL_BIT),
        _insn(RET_K, 0, 0, deny),                       # x32 numbers: refused
    ]
    for name in DENIED:
        out += [_insn(JEQ_K, 0, 1, nr[name]), _insn(RET_K, 0, 0, deny)]
    # kill(pid, sig): allowed for 0, pid and -pid (its own group).
    out += [_insn(JEQ_K, 0, 6, nr['kill']),
            _insn(LD_W_ABS, 0, 0, OFF_ARGS),
            _insn(JEQ_K, 3, 0, 0),
            _insn(JEQ_K, 2, 0, pid),
            _insn(JEQ_K, 1, 0, -pid),
            _insn(RET_K, 0, 0, deny),
            _insn(RET_K, 0, 0, SECCOMP_RET_ALLOW)]
    for name in FIRST_ARG_OWN:   # the accumulator holds nr again at each test
        out += [_insn(LD_W_ABS, 0, 0, OFF_NR),
                _insn(JEQ_K, 0, 4, nr[name]),
                _insn(LD_W_ABS, 0, 0, OFF_ARGS),
                _insn(JEQ_K, 1, 0, pid),
                _insn(RET_K, 0, 0, deny),
                _insn(RET_K, 0, 0, SECCOMP_RET_ALLOW)]
    out.append(_insn(RET_K, 0, 0, SECCOMP_RET_ALLOW))
    return b''.join(out)


def not_dumpable():
    """No process of our user may read or write this one's memory (/proc/<pid>/mem, ptrace)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


class _SockFprog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]


def confine_signals():
    """Install the filter for this process (pid == its process group). True if installed."""
    arch = platform.machine()
    if arch not in ARCHES:
        return False
    pid = os.getpid()
    code = program(pid, arch)
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        return False
    return True
