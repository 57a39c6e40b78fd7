"""The student's side of a Student: runs requests on the student's package.

Executor answers one request at a time inside the student's process (the
sandbox's child, child.py): it imports scratchnn modules, calls functions,
keeps return values behind references, and turns whatever student code does
into a StudentError with a message safe to show. LocalStudent puts an
Executor in the grader's own process, for developing the suites and proving
them on trusted code, never for a student's grade.

Kept apart from student.py (the grader's interface) because it imports torch
through protocol.py: the grader starts the sandbox before it pays for that.
"""
import errno
import importlib
import importlib.util
import itertools
import sys
from pathlib import Path

from . import protocol
from .student import RuleViolation, Student, StudentError


class Executor:
    """Serves requests against an imported scratchnn package. Runs inside the
    student's process (the sandbox child), or in-process for LocalStudent."""

    def __init__(self, package_name, first_id=1, attempts=None):
        """attempts: a callable returning the forbidden uses recorded since its
        last call (lockdown.take_attempts in the sandbox; None: not checked)."""
        self.package_name = package_name
        self.store = {}
        self._ids = itertools.count(first_id)
        self._attempts = attempts

    def _import(self, module_name):
        try:
            return importlib.import_module(f'{self.package_name}.{module_name}')
        except RuleViolation as e:
            raise StudentError('rule', f"scratchnn/{module_name}.py {e}") from None
        except Exception as e:  # the student's module does not import
            raise StudentError('import', f"scratchnn/{module_name}.py failed to import: "
                               f"{type(e).__name__}: {e}") from None

    def _lookup(self, target):
        module_name, _, qualname = target.partition('.')
        obj = self._import(module_name)
        for part in qualname.split('.'):
            if not hasattr(obj, part):
                raise StudentError('exception', f"scratchnn/{module_name}.py has no {qualname}")
            obj = getattr(obj, part)
        return obj

    def _reply(self, value, args, kwargs):
        ref_id = next(self._ids)
        self.store[ref_id] = value
        enc = lambda v: protocol.encode(v, self.store, self._ids.__next__)  # noqa: E731
        return {'value': enc(value), 'args': enc(list(args)), 'kwargs': enc(kwargs), 'ref': ref_id}

    def handle(self, message):
        """The reply to one request; raises StudentError for student failures.

        A forbidden use recorded while the request ran fails it as a rule
        violation, even if the student's code caught the exception; so does
        a reply holding a tensor that requires grad."""
        try:
            reply = self._handle(message)
        except StudentError as e:
            self._check_attempts(message)
            raise e from None
        self._check_attempts(message)
        if self._attempts is not None and _requires_grad(reply):
            raise StudentError('rule', f"{_describe(message)} returned a tensor that requires "
                                       f"grad: autograd is not allowed")
        return reply

    def _check_attempts(self, message):
        found = self._attempts() if self._attempts is not None else []
        if found:
            raise StudentError('rule', f"{_describe(message)} {'; '.join(found)}")

    def _handle(self, message):
        op = message['op']
        resolve = lambda v: protocol.resolve(v, self.store)  # noqa: E731
        if op in ('call', 'call_method'):
            if op == 'call':
                fn = self._lookup(message['target'])
                where = message['target']
            else:
                fn = getattr(resolve(message['obj']), message['name'])
                where = message['name']
            args, kwargs = resolve(message['args']), resolve(message['kwargs'])
            value = run_student(fn, where, *args, **kwargs)
            return self._reply(value, args, kwargs)
        if op == 'getattr':
            value = run_student(getattr, f"reading .{message['name']}",
                                resolve(message['obj']), message['name'])
            return {'value': protocol.encode(value, self.store, self._ids.__next__)}
        if op == 'setattr':
            run_student(setattr, f"setting .{message['name']}", resolve(message['obj']),
                        message['name'], resolve(message['value']))
            return {}
        if op == 'import':
            self._import(message['module'])
            return {}
        raise ValueError(f"unknown op {op!r}")


def _describe(message):
    """What a request ran, for messages: 'layers.Linear.forward', 'importing optim.py', ..."""
    if message.get('op') == 'import':
        return f"scratchnn/{message['module']}.py"
    return message.get('target') or message.get('name') or message.get('op')


def _requires_grad(obj, depth=0):
    """True if a tensor inside obj (a reply: plain data and references) requires grad."""
    import torch
    if isinstance(obj, torch.Tensor):
        return obj.requires_grad
    if depth > 50:
        return False
    if isinstance(obj, dict):
        return any(_requires_grad(v, depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_requires_grad(v, depth + 1) for v in obj)
    return False


def run_student(fn, where, *args, **kwargs):
    """fn(*args, **kwargs), with any exception turned into a StudentError that
    names the student's own line where it happened."""
    try:
        return fn(*args, **kwargs)
    except StudentError:
        raise
    except RuleViolation as e:
        raise StudentError('rule', f"{where} {e}") from None
    except NotImplementedError as e:
        raise StudentError('not_implemented', f"{where}: not implemented ({e})") from None
    except MemoryError as e:
        raise StudentError('memory', f"{where}: ran out of memory{_location(e)}") from None
    except SystemExit as e:
        raise StudentError('crash', f"{where} called sys.exit({e.code!r})") from None
    except RecursionError:
        raise StudentError('exception', f"{where}: infinite recursion") from None
    except OSError as e:
        if e.errno == errno.EFBIG:  # the sandbox caps the size of everything written
            raise StudentError('exception', f"{where} wrote more output than allowed") from None
        raise _exception_error(e, where) from None
    except Exception as e:
        if _out_of_memory(e):
            raise StudentError('memory', f"{where}: ran out of memory ({str(e)[:200]})") from None
        raise _exception_error(e, where) from None


def _out_of_memory(e):
    """True for torch's allocation failures (CPU RuntimeError, CUDA OutOfMemoryError)."""
    import torch
    return isinstance(e, torch.OutOfMemoryError) or (
        isinstance(e, RuntimeError) and "can't allocate memory" in str(e))


def _location(e):
    """' (at layers.py:42, in Linear.forward)': the student's own line, and its
    function, where e happened ('' when none of its frames is the student's)."""
    last, tb = None, e.__traceback__
    while tb is not None:
        if 'scratchnn' in tb.tb_frame.f_code.co_filename:
            last = tb
        tb = tb.tb_next
    if last is None:
        return ''
    code = last.tb_frame.f_code
    return (f" (at {Path(code.co_filename).name}:{last.tb_lineno}, "
            f"in {getattr(code, 'co_qualname', code.co_name)})")


def _exception_error(e, where):
    """A StudentError naming the student's own line and function where e happened."""
    return StudentError('exception', f"{where} raised {type(e).__name__}: {e}{_location(e)}")


class LocalStudent(Student):
    """Runs the package at package_dir in this process, through the same
    encoding as the sandbox. For developing suites and for proving them on
    trusted code (the catalogues of tests/), never for a student's grade."""

    _count = itertools.count()
    sandbox = 'in-process (trusted code only, not a real grade)'
    warning = None

    def __init__(self, package_dir):
        package_dir = Path(package_dir)
        name = f'_student_scratchnn_{next(self._count)}'
        spec = importlib.util.spec_from_file_location(
            name, package_dir / '__init__.py', submodule_search_locations=[str(package_dir)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        self.executor = Executor(name)

    def output_excerpt(self):
        return ''

    def close(self):
        """Forget the package's modules, so the next LocalStudent imports afresh."""
        for module in [m for m in sys.modules if m.startswith(self.executor.package_name)]:
            del sys.modules[module]

    def request(self, message):
        message = protocol.loads(protocol.dumps(message))
        reply = self.executor.handle(message)
        return protocol.loads(protocol.dumps(reply))
