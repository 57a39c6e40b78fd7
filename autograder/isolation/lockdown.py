"""Autograd and torch's ready-made layers made unusable for student code, at run time.

    lockdown.install(student_files)   # in the child, after torch and the given
                                      # modules, before any student module
    lockdown.take_attempts()          # what student code tried since the last call

The rule check (rules.py) reads the source; this judges behaviour, so that
spelling a forbidden thing differently (a string-built attribute name, a
default argument, a coding cookie, a given module's import) gains nothing:
- grad mode is switched off: while untrusted code runs (see below),
  torch.set_grad_enabled(True), torch.enable_grad and
  torch._C._set_grad_enabled(True) refuse, and so does starting a thread
  (it would start with grad mode on);
- entering a dual level of forward-mode AD refuses;
- Tensor.backward refuses, and so does asking a tensor to require grad
  (requires_grad_(), .requires_grad = True); a reply holding a tensor that
  requires grad is refused by the Executor;
- torch.nn, torch.autograd, torch.optim, torch.func and functorch are
  replaced (on torch, in sys.modules and in every loaded module that holds
  them, modules loaded later included) by guards that refuse any use by
  untrusted code (the code reading the attribute; C helpers such as
  operator.attrgetter or pickle have no frame, so their untrusted caller
  is the one seen), and importing them (or torch._anything) from untrusted
  code refuses; trusted code (torch itself, the given modules, the grader's
  own) still uses them, e.g. the given conv layer; torch.load called by
  untrusted code reads weights only.
  Trusted code is code from a file of Python's installation (the standard
  library, site-packages), of the grader or of the given modules; anything
  else (a student module, code it exec's or writes to /tmp and imports) is
  untrusted. "Running" means: an untrusted frame is on the stack, looking
  from the access outwards, before a trusted module's import-time code
  (torch imports parts of itself lazily, even from inside student calls)
  and before the child's own request loop;
- torch.jit.script/trace and torch.compile refuse from student code;
- an audit hook (sys.addaudithook: nothing removes it) refuses student code
  every event that creates code or functions (compile, exec, eval, code
  objects built or .replace()d, functions built from them, marshal) or that
  reads what introspection reaches (frames, tracebacks' and generators'
  frames, code objects, defaults, gc, ctypes): so no code can claim a
  trusted file name or a module's code name, which is what trust rests on.

Each refusal raises student.RuleViolation and is also recorded, so that
catching the exception gains nothing: the grader reports it as a rule
violation of the item being graded. This raises the bar, it is not a proof:
Python code in one process reaches far through attributes no audit event
covers (a function's __globals__ and __closure__, a guard's __dict__), and
the real functions stay inside torch._C; the rule check (rules.py), an
allow-list with no name that starts with `_` and no getattr, is what keeps
student code from them.
"""
import builtins
import os
import sys
import types

from .student import RuleViolation

GUARDED = ('torch.nn', 'torch.autograd', 'torch.optim', 'torch.func', 'functorch')
_trusted = ()          # path prefixes of trusted code
_boundary = None       # the file of the child's request loop: nothing below it is untrusted
_attempts = []


def _is_trusted(filename):
    return filename.startswith(_trusted)


def _untrusted_running(depth=2):
    """True when untrusted code is on the stack (see the module docstring)."""
    frame = sys._getframe(depth)
    while frame is not None:
        code = frame.f_code
        if code.co_filename == _boundary:
            return False
        if not _is_trusted(code.co_filename):
            return True
        if code.co_name == '<module>':   # a trusted module importing itself
            return False
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
        # Dunders (__path__, __spec__, ...) are read by the import system and
        # introspection; none of them is torch's functionality.
        if not (name.startswith('__') and name.endswith('__')) and \
                not _is_trusted(sys._getframe(1).f_code.co_filename):
            refuse(f"{real.__name__}.{name}")
        return getattr(real, name)

    def __setattr__(self, name, value):
        setattr(self.__dict__['_guarded_module'], name, value)

    def __dir__(self):
        return dir(self.__dict__['_guarded_module'])


_guards = {}           # id(real forbidden module) -> its guard
_swept = set()         # names of the modules already swept


def _guard_modules():
    """Replace every loaded forbidden module by its guard wherever a module holds it.
    Called again after imports: it looks only at the modules loaded since."""
    fresh = [name for name in list(sys.modules) if name not in _swept]
    _swept.update(fresh)
    for name in fresh:
        module = sys.modules[name]
        # type(), never isinstance(): some objects warn when their __class__ is read.
        if _guarded_name(name) and type(module) is not _Guard and \
                issubclass(type(module), types.ModuleType):
            _guards[id(module)] = _Guard(module)
            sys.modules[name] = _guards[id(module)]
    for name in fresh:
        module = sys.modules.get(name)
        if not issubclass(type(module), types.ModuleType) or type(module) is _Guard:
            continue
        namespace = module.__dict__
        for key, value in list(namespace.items()):
            if id(value) in _guards and type(value) is not _Guard:
                namespace[key] = _guards[id(value)]


def _guard_imports():
    real_import = builtins.__import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and not _is_trusted(sys._getframe(1).f_code.co_filename):
            wanted = [name] + [f"{name}.{item}" for item in fromlist or ()]
            for full in wanted:
                if _guarded_name(full) or full.startswith('torch._'):
                    refuse(f"import {full}")
        known = len(sys.modules)
        module = real_import(name, globals, locals, fromlist, level)
        if len(sys.modules) != known:   # new modules may hold forbidden ones
            _guard_modules()
        return module

    builtins.__import__ = guarded_import


def _lock_grad_mode():
    import torch
    torch.set_grad_enabled(False)
    real_set = torch._C._set_grad_enabled

    real_set_grad_enabled, real_enable_grad = torch.set_grad_enabled, torch.enable_grad

    def set_grad_enabled_c(mode):
        if mode and _untrusted_running():
            refuse("autograd (turning grad mode on)")
        return real_set(mode)

    def set_grad_enabled(mode):
        if mode and _untrusted_running():
            refuse("autograd (torch.set_grad_enabled(True))")
        return real_set_grad_enabled(mode)

    def enable_grad(*args, **kwargs):
        if _untrusted_running():
            refuse("autograd (torch.enable_grad)")
        return real_enable_grad(*args, **kwargs)

    torch._C._set_grad_enabled = set_grad_enabled_c
    torch.set_grad_enabled, torch.enable_grad = set_grad_enabled, enable_grad
    _lock_forward_mode()


def _lock_forward_mode():
    """Forward-mode AD needs a dual level: entering one refuses untrusted code."""
    import torch
    real_enter = torch._C._enter_dual_level

    def enter_dual_level(*args, **kwargs):
        if _untrusted_running():
            refuse("autograd (forward-mode dual numbers)")
        return real_enter(*args, **kwargs)

    torch._C._enter_dual_level = enter_dual_level


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


def _lock_load():
    import torch
    real_load = torch.load

    def load(*args, **kwargs):
        if not _is_trusted(sys._getframe(1).f_code.co_filename):
            kwargs['weights_only'] = True   # no pickled functions or classes
        return real_load(*args, **kwargs)

    torch.load = load


def _lock_compilers():
    import torch

    def refuser(what):
        def refused(*args, **kwargs):
            if _untrusted_running():
                refuse(what)
            raise RuntimeError(f"{what} is not available in the grader")
        return refused

    torch.jit.script, torch.jit.trace = refuser('torch.jit.script'), refuser('torch.jit.trace')
    torch.compile = refuser('torch.compile')


# Python's audit events that create code or functions, or read or change
# what introspection alone reaches: code objects, frames, defaults, memory.
# None of them has a use in a hand-written layer.
AUDITED = ('code.__new__', 'function.__new__', 'compile', 'exec', 'marshal.', 'object.__getattr__',
           'object.__setattr__', 'object.__delattr__', 'sys._getframe', 'sys._current_frames',
           'sys.settrace', 'sys.setprofile', 'gc.', 'ctypes.', 'cpython.')


def _refuse_introspection(trusted):
    """An audit hook (which nothing can remove) refuses those events when
    untrusted code asks for them directly: student code can neither create
    a code object or a function (one claiming a trusted file name or a
    module's code name would pass for trusted code), nor read a frame, a
    code object or a function's defaults. Trusted code keeps them (exec in
    namedtuple, frames in warnings). The hook holds what it judges by in its
    own closure, which nothing reaches (no module global that student code
    could rewrite through a function's __globals__).
    trusted: the path prefixes of trusted code."""
    getframe, attempts, busy = sys._getframe, _attempts, []   # busy: its own reads raise events

    def hook(event, args):
        if busy or not event.startswith(AUDITED):
            return
        busy.append(True)
        try:
            if not getframe(1).f_code.co_filename.startswith(trusted):
                what = f"{event} {args[1]}" if event.startswith('object.') else event
                message = f"used introspection ({what}), which is not allowed"
                if message not in attempts:
                    attempts.append(message)
                raise RuleViolation(message)
        finally:
            busy.clear()

    sys.addaudithook(hook)


def _no_threads():
    import _thread
    import threading

    real_start = _thread.start_new_thread

    def start_new_thread(*args, **kwargs):
        if _untrusted_running():
            refuse("threads (grad mode is on in a new thread)")
        return real_start(*args, **kwargs)

    _thread.start_new_thread = _thread.start_new = start_new_thread
    threading._start_new_thread = start_new_thread


def installed():
    return bool(_trusted)


def install(trusted, boundary):
    """Lock this process down.

    trusted: path prefixes of trusted code besides Python's installation (the
    grader's folder, the given modules' files); boundary: the file of the
    request loop (child.py)."""
    import sysconfig
    global _trusted, _boundary
    paths = sysconfig.get_paths()
    installation = {paths[k] for k in ('stdlib', 'platstdlib', 'purelib', 'platlib')}
    installation |= {os.path.join(p, 'lib') for p in (sys.base_prefix, sys.prefix)}
    _trusted = tuple(sorted({os.path.join(p, '') for p in installation} | set(trusted)))
    # '<string>' and the like: code that trusted code generates with exec
    # (dataclasses, torch); untrusted code can create no code (the audit hook).
    _trusted += ('<',)
    _boundary = boundary
    for name in GUARDED:
        try:
            __import__(name)
        except ImportError:
            pass
    _lock_grad_mode()
    _lock_tensor()
    _lock_compilers()
    _lock_load()
    _guard_modules()
    _guard_imports()
    _refuse_introspection(_trusted)
    _no_threads()
