"""Autograd and torch's ready-made layers made unusable for student code, at run time.

    lockdown.install(student_files)   # in the child, after torch and the given
                                      # modules, before any student module
    lockdown.take_attempts()          # what student code tried since the last call

The rule check (rules.py) reads the source; this judges behaviour, so that
spelling a forbidden thing differently (a string-built attribute name, a
default argument, a coding cookie, a given module's import) gains nothing:
- grad mode is switched off for good: torch.set_grad_enabled(True),
  torch.enable_grad and torch._C._set_grad_enabled(True) refuse, and new
  threads (which would start with grad mode on) cannot be started;
- Tensor.backward refuses, and so does asking a tensor to require grad
  (requires_grad_(), .requires_grad = True); a reply holding a tensor that
  requires grad is refused by the Executor;
- torch.nn, torch.autograd, torch.optim, torch.func and functorch are
  replaced (on torch, in sys.modules and in every loaded module that holds
  them) by guards that refuse any use while student code is running (a
  student module's frame is on the stack), and importing them from a
  student module refuses; trusted code (torch itself, the given modules,
  the grader's own) still uses them, e.g. the given conv layer;
- torch.jit.script/trace and torch.compile refuse from student code.

Each refusal raises student.RuleViolation and is also recorded, so that
catching the exception gains nothing: the grader reports it as a rule
violation of the item being graded. This raises the bar, it is not a proof:
Python code in one process can reach almost anything through introspection
(gc, frames, ctypes, code objects), and those escape routes are what the
rule check bans by name.
"""
import builtins
import sys
import types

from .student import RuleViolation

GUARDED = ('torch.nn', 'torch.autograd', 'torch.optim', 'torch.func', 'functorch')
_student_files = frozenset()
_attempts = []


def _student_running():
    """True when a student module's code is on the stack."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename in _student_files:
            return True
        frame = frame.f_back
    return False


def refuse(what):
    """Record and raise a RuleViolation for `what`."""
    message = f"used {what}, which is not allowed"
    if message not in _attempts:
        _attempts.append(message)
    raise RuleViolation(message)


def take_attempts():
    """The forbidden uses recorded since the last call (and forget them)."""
    found = list(_attempts)
    _attempts.clear()
    return found


def _guarded_name(name):
    return any(name == g or name.startswith(g + '.') for g in GUARDED)


class _Guard(types.ModuleType):
    """Stands for a forbidden module: passes attribute access through to it
    for trusted code, refuses it while student code runs."""

    def __init__(self, real):
        super().__init__(real.__name__, real.__doc__)
        self.__dict__['_guarded_module'] = real

    def __getattr__(self, name):
        real = self.__dict__['_guarded_module']
        if _student_running():
            refuse(f"{real.__name__}.{name}")
        return getattr(real, name)

    def __setattr__(self, name, value):
        setattr(self.__dict__['_guarded_module'], name, value)

    def __dir__(self):
        return dir(self.__dict__['_guarded_module'])


def _guard_modules():
    """Replace every loaded forbidden module by its guard wherever a module holds it."""
    for name in GUARDED:
        try:
            __import__(name)
        except ImportError:
            pass
    guards = {}
    for name, module in list(sys.modules.items()):
        if _guarded_name(name) and isinstance(module, types.ModuleType):
            guards[id(module)] = _Guard(module)
            sys.modules[name] = guards[id(module)]
    for name, module in list(sys.modules.items()):
        # type(), never isinstance(): some objects warn when their __class__ is read.
        if not issubclass(type(module), types.ModuleType) or type(module) is _Guard:
            continue
        namespace = module.__dict__
        for key, value in list(namespace.items()):
            if id(value) in guards and type(value) is not _Guard:
                namespace[key] = guards[id(value)]
    # Inside the guarded modules, their own submodules stay real (trusted code).


def _guard_imports():
    real_import = builtins.__import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and sys._getframe(1).f_code.co_filename in _student_files:
            wanted = [name] + [f"{name}.{item}" for item in fromlist or ()]
            for full in wanted:
                if _guarded_name(full):
                    refuse(f"import {full}")
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = guarded_import


def _lock_grad_mode():
    import torch
    torch.set_grad_enabled(False)
    real_set = torch._C._set_grad_enabled

    def set_grad_enabled_c(mode):
        if mode:
            refuse("autograd (turning grad mode on)")
        return real_set(False)

    torch._C._set_grad_enabled = set_grad_enabled_c

    class set_grad_enabled:
        """torch.set_grad_enabled that only ever turns grad mode off."""

        def __init__(self, mode):
            if mode:
                refuse("autograd (torch.set_grad_enabled(True))")
            self.prev = torch.is_grad_enabled()
            real_set(False)

        def __call__(self, fn):
            return fn

        def __enter__(self):
            return None

        def __exit__(self, *exc):
            real_set(self.prev)

    def enable_grad(*args, **kwargs):
        refuse("autograd (torch.enable_grad)")

    torch.set_grad_enabled, torch.enable_grad = set_grad_enabled, enable_grad


def _lock_tensor():
    import torch
    real_requires_grad = torch._C.TensorBase.requires_grad
    real_requires_grad_ = torch.Tensor.requires_grad_

    def backward(self, *args, **kwargs):
        refuse("autograd (Tensor.backward)")

    def requires_grad_(self, requires_grad=True):
        if requires_grad:
            refuse("autograd (Tensor.requires_grad_)")
        return real_requires_grad_(self, False)

    def set_requires_grad(self, value):
        if value:
            refuse("autograd (Tensor.requires_grad = True)")
        real_requires_grad.__set__(self, False)

    torch.Tensor.backward = backward
    torch.Tensor.requires_grad_ = requires_grad_
    torch.Tensor.requires_grad = property(real_requires_grad.__get__, set_requires_grad)


def _lock_compilers():
    import torch

    def refuser(what):
        def refused(*args, **kwargs):
            if _student_running():
                refuse(what)
            raise RuntimeError(f"{what} is not available in the grader")
        return refused

    torch.jit.script, torch.jit.trace = refuser('torch.jit.script'), refuser('torch.jit.trace')
    torch.compile = refuser('torch.compile')


def _no_threads():
    import _thread
    import threading

    def refused(*args, **kwargs):
        refuse("threads (grad mode is on in a new thread)")

    _thread.start_new_thread = _thread.start_new = refused
    threading._start_new_thread = refused


def install(student_files):
    """Lock this process down; student_files: absolute paths of the student modules."""
    global _student_files
    _student_files = frozenset(str(f) for f in student_files)
    _lock_grad_mode()
    _lock_tensor()
    _lock_compilers()
    _guard_modules()
    _guard_imports()
    _no_threads()
