"""The rule check: student modules are written in an allow-listed subset of Python.

Student code may use only what this module allows; everything else is a
rule violation, whatever it is and however it is spelled:
- imports: the modules of ALLOWED_IMPORTS (torch, math, numpy and a few
  plain-Python helpers), the student's own modules and the given modules
  (`from . import _checks`; a given module only through the names it defines);
- names: any name the module binds itself, and the builtins of
  ALLOWED_BUILTINS; never another builtin (getattr, type, vars, eval,
  open, ...), even rebound, and never a name starting with `__`
  (__builtins__, __import__, __loader__, ...);
- attributes (`a.name`, `from m import name`, a class pattern's keywords):
  never one starting with `__`; otherwise those of allowed_attributes()
  (tensor methods and properties, tensor-creating and math functions of
  torch, torch.linalg / fft / special, math and numpy, methods of dicts,
  lists, tuples, strings and numbers: each list read from the library
  itself, minus DENIED_PARTS: gradients, hooks, storage, compilers,
  dispatch, files, ready-made layers), the names the release itself
  defines (Linear.backward, self.params, _checks.tensor), and names of the
  student's own that mean nothing to torch, numpy or Python
  (known_attributes(): a namedtuple's field, self.grads);
- methods named `__x__`: only those of DUNDER_METHODS (__init__, ...);
- keywords: not those of DENIED_KEYWORDS (requires_grad=...).
So torch.ops, torch.autograd (forward-mode AD included), torch.func,
torch.library, torch.jit, torch.compile, torch.fx, torch.nn, torch._C,
x.grad, x.register_hook, frames, code objects, closures and every module
that leads to them are out, under any alias: an alias can only name what
was allowed to begin with. Found by reading the source (ast), never by
running it; the child process also refuses gradients at run time
(isolation/lockdown.py).

A use inside a function an item grades (rubric.toml `functions`) costs the items
that list that function. A use anywhere else in the student's module (a
module-level import, a helper function, a class body, a default argument
or decorator, which run at import) costs every item of that module, since
any student function may reach it; so does a module the check cannot read
(not Python, nested too deeply): it is refused, never trusted; and so does
importing what breaks the rules in another student module, which could
pass on what that one reached.
"""
import ast
import builtins
import warnings
from functools import lru_cache

from .blocks import functions, parse_module
from .course import COURSE

ALLOWED_IMPORTS = frozenset({'torch', 'math', 'numpy', 'sys', 'os', 'warnings', 'collections',
                             'functools', 'itertools', 'copy', 'typing', '__future__'})
ALLOWED_BUILTINS = frozenset({
    'abs', 'all', 'any', 'ascii', 'bin', 'bool', 'bytearray', 'bytes', 'callable', 'chr',
    'classmethod', 'complex', 'dict', 'divmod', 'enumerate', 'filter', 'float', 'format',
    'frozenset', 'hash', 'hex', 'id', 'input', 'int', 'isinstance', 'issubclass', 'iter',
    'len', 'list', 'map', 'max', 'min', 'next', 'object', 'oct', 'ord', 'pow', 'print',
    'property', 'range', 'repr', 'reversed', 'round', 'set', 'slice', 'sorted',
    'staticmethod', 'str', 'sum', 'super', 'tuple', 'zip', 'Ellipsis', 'NotImplemented',
    'True', 'False', 'None'}
    | {name for name in dir(builtins) if name.endswith(('Error', 'Exception', 'Warning'))
       or name in ('StopIteration', 'KeyboardInterrupt', 'GeneratorExit', 'SystemExit')})
# Special methods a student class may define; others hook into Python or
# torch (__torch_function__, __getattr__, __del__, __init_subclass__, ...).
DUNDER_METHODS = frozenset({'__init__', '__call__', '__repr__', '__str__', '__len__',
                            '__getitem__', '__setitem__', '__contains__', '__iter__'})
# A library name containing one of these is never allowed: gradients, hooks
# and autograd's other doors; compilers, tracers and the operator registry;
# storage, raw memory and files; threads; ready-made layers of torch's namespace.
DENIED_PARTS = (
    'grad', 'backward', 'hook', 'dual', 'jvp', 'vjp', 'vmap', 'jacobian', 'hessian', 'anomaly',
    'autocast', 'func', 'jit', 'script', 'trace', 'compile', 'export', 'fx', 'library',
    'register', 'dispatch', 'schema', 'ops', 'override', 'parse', 'import', 'module', 'cond',
    'while_loop', 'scan', 'fork', 'wait', 'thread', 'process', 'storage', 'buffer', 'ptr',
    'dlpack', 'ctypes', 'file', 'load', 'save', 'txt', 'regex', 'memmap', 'pickle', 'share',
    'set_', 'subclass', 'vital', 'classproperty', 'type_comment', 'unify_type', 'batch_norm',
    'layer_norm', 'group_norm', 'instance_norm', 'rms_norm', 'dropout', 'frame', 'code',
    'globals', 'builtin')
# Harmless names that contain a denied part.
UNDENIED = frozenset({'no_grad', 'gradient', 'inference_mode', 'is_inference_mode_enabled', 'trace',
                      'encode', 'decode'})
DENIED_KEYWORDS = frozenset({'requires_grad'})
HARMLESS_DUNDER_NAMES = frozenset({'__name__', '__doc__', '__file__'})   # strings
# Modules student code may reach as attributes (torch.linalg.norm, ...).
MATH_MODULES = ('linalg', 'fft', 'special')
TORCH_CLASSES = ('Tensor', 'Generator', 'Size', 'device', 'dtype', 'finfo', 'iinfo',
                 'layout', 'memory_format', 'no_grad', 'inference_mode')
# Of the plain-Python modules, what a layer may need (printing, warning, seeding).
PYTHON_MODULE_NAMES = {
    'sys': ('stdout', 'stderr', 'maxsize', 'float_info', 'version_info'),
    'os': ('urandom',), 'warnings': ('warn', 'simplefilter', 'filterwarnings'),
    'collections': ('namedtuple', 'OrderedDict', 'defaultdict', 'deque', 'Counter'),
    'functools': ('partial', 'reduce', 'lru_cache', 'cache', 'wraps'),
    'itertools': ('chain', 'product', 'combinations', 'permutations', 'repeat', 'count',
                  'accumulate', 'islice', 'pairwise', 'zip_longest', 'starmap'),
    'copy': ('copy', 'deepcopy'),
    'typing': ('Optional', 'Union', 'Any', 'List', 'Dict', 'Tuple', 'Sequence', 'Callable'),
    '__future__': ('annotations',),
}
FILE_METHODS = ('write', 'flush')   # sys.stderr.write
GIVEN_MODULES = COURSE.given_modules
BUILTINS = frozenset(dir(builtins))
RULE = ("scratchnn must be written by hand, in plain Python and tensor math: torch.nn, "
        "torch.nn.functional, torch.autograd, torch.optim, PyTorch's other ways to compute "
        "gradients and introspection are not allowed")


def _denied(name):
    return name not in UNDENIED and any(part in name.lower() for part in DENIED_PARTS)


def _public(names):
    return {n for n in names if not n.startswith('_') and not _denied(n)}


def _loaded(owner, name):
    """owner.name if it is there already, else None: never one that a module
    would import on first use (numpy.testing, torch.export)."""
    if isinstance(owner, type):
        return getattr(owner, name, None)
    with warnings.catch_warnings():   # some attributes warn that they are deprecated
        warnings.simplefilter('ignore')
        return vars(owner).get(name)


@lru_cache(maxsize=None)
def allowed_attributes():
    """Every library attribute name student code may use (see the module docstring)."""
    import math
    import types

    import numpy
    import torch

    def functions_of(module):
        return {n for n in dir(module) if callable(_loaded(module, n))
                and not isinstance(_loaded(module, n), (type, types.ModuleType))}

    def constants_of(module):
        return {n for n in dir(module) if isinstance(_loaded(module, n), (
            torch.dtype, torch.layout, torch.memory_format, float, int, numpy.dtype))}

    names = set(MATH_MODULES) | set(TORCH_CLASSES) | set(FILE_METHODS)
    names |= functions_of(torch) | constants_of(torch) | set(dir(torch.Tensor))
    for module in MATH_MODULES:
        names |= functions_of(getattr(torch, module))
    names |= functions_of(math) | constants_of(math)
    names |= {n for n in functions_of(numpy) | constants_of(numpy)
              if isinstance(_loaded(numpy, n), (numpy.ufunc, types.FunctionType, float))
              or n in dir(torch.Tensor)}
    names |= {n for n in dir(numpy) if isinstance(_loaded(numpy, n), type)
              and issubclass(_loaded(numpy, n), numpy.generic)}     # np.float64
    for kind in (dict, list, tuple, str, set, frozenset, int, float, bool, slice, range,
                 torch.Size, torch.device, torch.dtype, torch.finfo, torch.iinfo,
                 torch.Generator):
        names |= set(dir(kind))
    for kind in vars(torch.return_types).values():   # x.max(dim=1).values
        if isinstance(kind, type) and issubclass(kind, tuple):
            names |= set(dir(kind)) - set(dir(tuple))
    for allowed in PYTHON_MODULE_NAMES.values():
        names |= set(allowed)
    return frozenset(_public(names))


@lru_cache(maxsize=None)
def known_attributes():
    """Attribute names of what student code could reach (torch and its
    submodules, numpy, the allowed modules, Python's own objects: functions,
    code, frames, tracebacks, generators, types, modules): a name of the
    student's own that is one of these is not allowed unless listed."""
    import os
    import sys
    import types

    import numpy
    import torch
    # Other submodules of torch are reachable only through their names,
    # which are known and not allowed.
    roots = [torch, torch.Tensor, numpy, numpy.ndarray, builtins, types, sys]
    roots += [__import__(m) for m in ALLOWED_IMPORTS] + [getattr(torch, m) for m in MATH_MODULES]
    names = set()
    for root in roots:
        for name in dir(root):
            names.add(name)
            value = _loaded(root, name)
            if isinstance(value, type):
                names.update(dir(value))
    for kind in vars(types).values():
        if isinstance(kind, type):
            names.update(dir(kind))
    for package in (torch, numpy):   # every submodule, loaded or not
        for folder, subfolders, files in os.walk(os.path.dirname(package.__file__)):
            names.update(subfolders)
            names.update(f[:-3] for f in files if f.endswith('.py'))
    names.update(sys.stdlib_module_names, sys.builtin_module_names)
    return frozenset(names | _release_imports())


@lru_cache(maxsize=None)
def release_names():
    """The names the release defines in its student and given modules
    (functions, classes, module globals, attributes it sets: Linear.backward,
    optim._adam_step, self.params): always allowed as attributes."""
    from .rubric import student_modules
    names = set()
    for package in (COURSE.solution_package, COURSE.release_package):
        for module in (*student_modules(), *GIVEN_MODULES):
            path = package / f'{module}.py'
            if not path.is_file():
                continue
            tree = ast.parse(path.read_bytes())
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                    names.add(node.name)
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    names.add(node.attr)
            names |= _module_globals(tree)
    return frozenset(n for n in names if not n.startswith('__'))


@lru_cache(maxsize=None)
def _release_imports():
    """The names the release's modules bind by importing (conv's F, torch, math):
    modules of theirs that student code may not reach through them (scratchnn's
    own modules aside: `self.layers` is a student's name like any other)."""
    from .rubric import student_modules
    imported, defined = set(), {*student_modules(), *GIVEN_MODULES, 'scratchnn'}
    for package in (COURSE.solution_package, COURSE.release_package):
        for path in package.glob('*.py'):
            for node in ast.walk(ast.parse(path.read_bytes())):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    imported.update((a.asname or a.name).split('.')[0] for a in node.names)
                elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                    defined.add(node.name)
    return frozenset(imported - defined)


def _module_globals(tree):
    """The names a module's top level assigns."""
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


@lru_cache(maxsize=None)
def given_names(module):
    """The names a given module defines (functions, classes, constants): all a
    student module may take from it. Its imports (torch.nn.functional as F in
    conv) are not among them."""
    for package in (COURSE.solution_package, COURSE.release_package):
        path = package / f'{module}.py'
        if path.is_file():
            break
    else:
        return frozenset()
    tree = ast.parse(path.read_bytes())
    names = _module_globals(tree) | {node.name for node in tree.body if isinstance(
        node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))}
    return frozenset(n for n in names if not n.startswith('__'))


def attribute_problem(name):
    """Why student code may not use the attribute `name`, or None when it may."""
    if name.startswith('__'):
        return f".{name} (names starting with __ are not allowed)"
    if name in allowed_attributes() or name in release_names():
        return None
    if name in known_attributes():
        return f".{name} (not among the tensor, math and container attributes allowed)"
    return None      # a name of the student's own: self.grads, a namedtuple's field


def name_problem(name):
    """Why student code may not use the name `name` (load or store), or None."""
    if name in HARMLESS_DUNDER_NAMES:
        return None
    if name.startswith('__'):
        return f"{name} (names starting with __ are not allowed)"
    if name in BUILTINS and name not in ALLOWED_BUILTINS:
        return f"{name} (a builtin that is not allowed)"
    return None


@lru_cache(maxsize=None)
def _student_module(module):
    from .rubric import student_modules
    return module in student_modules()


IMPORTS_ALLOWED = (f"only {', '.join(sorted(ALLOWED_IMPORTS - {'__future__'}))} and "
                   f"scratchnn's modules may be imported")


def import_problems(node, bound_modules):
    """[(line, what)] for an Import or ImportFrom node; records the given and
    plain-Python modules it binds in bound_modules {name: module}."""
    if isinstance(node, ast.Import):
        return _plain_import_problems(node, bound_modules)
    package_module = _package_module(node)
    if package_module is not None:
        return _package_import_problems(node, package_module, bound_modules)
    module = node.module or ''
    if node.level or module not in ALLOWED_IMPORTS:
        return [(node.lineno, f"from {'.' * node.level}{module} import ... ({IMPORTS_ALLOWED})")]
    found = []
    for alias in node.names:
        if alias.name == '*':
            problem = "(name what you import)"
        elif module in PYTHON_MODULE_NAMES:
            problem = None if alias.name in PYTHON_MODULE_NAMES[module] else \
                f"(of {module}, only {', '.join(PYTHON_MODULE_NAMES[module])})"
        else:
            problem = attribute_problem(alias.name)
        if problem:
            found.append((node.lineno, f"from {module} import {alias.name} {problem}"))
    return found


def _plain_import_problems(node, bound_modules):
    """import torch, import os as o, import scratchnn.conv as conv."""
    found = []
    for alias in node.names:
        parts = alias.name.split('.')
        given = parts[0] == 'scratchnn' and len(parts) == 2 and parts[1] in GIVEN_MODULES
        if given or alias.name in PYTHON_MODULE_NAMES:
            bound_modules[alias.asname or alias.name] = parts[-1]
        if alias.name not in ALLOWED_IMPORTS and not given:
            found.append((node.lineno, f"import {alias.name} ({IMPORTS_ALLOWED})"))
    return found


def _package_module(node):
    """For an import from scratchnn (`from . import x`, `from .conv import F`,
    `from scratchnn.conv import F`): the module named ('' for the package
    itself); None for an import from elsewhere."""
    module = node.module or ''
    if node.level == 1:
        return module
    if node.level == 0 and (module == 'scratchnn' or module.startswith('scratchnn.')):
        return module.partition('.')[2]
    return None


def _package_import_problems(node, module, bound_modules):
    found = []
    for alias in node.names:
        if alias.name == '*':
            found.append((node.lineno, f"from .{module} import * (name what you import)"))
        elif not module and alias.name in GIVEN_MODULES:
            bound_modules[alias.asname or alias.name] = alias.name
        elif not module and _student_module(alias.name):
            pass
        elif module in GIVEN_MODULES and alias.name not in given_names(module):
            found.append((node.lineno, f"from .{module} import {alias.name} (given modules "
                                       f"may be used only through the names they define)"))
        elif not (module in GIVEN_MODULES or _student_module(module)):
            found.append((node.lineno, f"from .{module} import {alias.name} (not a "
                                       f"module of scratchnn)"))
    return found


def node_problems(node, bound_modules):
    """[(line, what)] for one node alone (its children are visited apart).
    bound_modules: {name: given or plain-Python module it is bound to}."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return import_problems(node, bound_modules)
    if isinstance(node, ast.Name):
        what = name_problem(node.id)
    elif isinstance(node, ast.Attribute):
        what = _attribute_node_problem(node, bound_modules)
    elif isinstance(node, ast.keyword) and node.arg is not None:
        refused = node.arg in DENIED_KEYWORDS or node.arg.startswith('__')
        what = f"the keyword {node.arg}= (not allowed)" if refused else None
    elif isinstance(node, ast.MatchClass):   # case C(attr=...) reads C's attribute
        what = _first(attribute_problem(name) for name in node.kwd_attrs)
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
            and node.name.startswith('__'):
        what = None if node.name in DUNDER_METHODS else (
            f"def {node.name} (of the special methods only "
            f"{', '.join(sorted(DUNDER_METHODS))} may be defined)")
    else:
        what = _first(name_problem(name) for name in _declared_names(node))
    return [(getattr(node, 'lineno', 0), what)] if what else []


def _attribute_node_problem(node, bound_modules):
    """Why `node` (an ast.Attribute) is not allowed, or None."""
    module = bound_modules.get(node.value.id) if isinstance(node.value, ast.Name) else None
    if module in PYTHON_MODULE_NAMES and node.attr not in PYTHON_MODULE_NAMES[module]:
        return f"{module}.{node.attr} (of {module}, only {', '.join(PYTHON_MODULE_NAMES[module])})"
    if module in GIVEN_MODULES and node.attr not in given_names(module):
        return (f"{module}.{node.attr} (given modules may be used only through the names "
                f"they define)")
    return attribute_problem(node.attr)


def _declared_names(node):
    """The names a node binds or declares other than by ast.Name (def, class,
    argument, except ... as, match capture, global, nonlocal)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return node.names
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        return [node.name] if node.name else []
    if isinstance(node, ast.MatchMapping):
        return [node.rest] if node.rest else []
    return []


def _first(problems):
    return next((p for p in problems if p), None)


def check_source(source, student_functions):
    """Uses of what is not allowed in one module's source (str, or bytes
    decoded as Python decodes a module: by its coding cookie).

    student_functions: qualnames of the module's graded functions.
    Returns {qualname or None: [(line, what)]}; None collects uses outside
    those functions (they count against the whole module), and a module
    the check cannot read (see blocks.parse_module), as {None: [(line, why)]}.
    """
    tree, why = parse_module(source)
    if tree is None:
        return {None: [(0, f"refused: the rule check cannot read it, as {why}")]}
    bound_modules = {}
    for node in ast.walk(tree):   # imports first: a given module's alias may be used above
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            import_problems(node, bound_modules)
    owner = {}   # id(node) -> the graded function whose body holds it
    for qualname, node in functions(tree):
        if qualname in student_functions:
            # Only the body: default arguments and decorators run at import,
            # so a use there costs the whole module.
            for statement in node.body:
                owner.update((id(n), qualname) for n in ast.walk(statement))
    uses = {}
    for node in ast.walk(tree):
        for found in node_problems(node, bound_modules):
            uses.setdefault(owner.get(id(node)), []).append(found)
    return {where: sorted(set(found)) for where, found in uses.items()}


def check_submission(submission, rubric):
    """{item id: message} for every item a rule violation zeroes.

    submission: a submission.Submission (the student modules' source bytes).
    rubric: a rubric.Rubric ({item id: Item}, each naming its 'module.QualName' functions).
    """
    by_module = {}
    for item, spec in rubric.items():
        for target in spec.functions:
            module, _, qualname = target.partition('.')
            by_module.setdefault(module, {}).setdefault(qualname, []).append(item)
    found = {module: check_source(submission.source(module), set(functions))
             for module, functions in by_module.items() if submission.source(module) is not None}
    _spread_through_imports(found, {module: submission.source(module) for module in found})
    messages = {}
    for module, functions in sorted(by_module.items()):
        for qualname, uses in found.get(module, {}).items():
            items = functions[qualname] if qualname else {i for v in functions.values() for i in v}
            for item in sorted(items):
                messages.setdefault(item, []).append(_describe(module, qualname, uses))
    return {item: f"Rule violation: {'; '.join(found)}. {RULE}; this item gets 0 points."
            for item, found in messages.items()}


def _spread_through_imports(found, sources):
    """A module that imports what breaks the rules in another student module
    (`from .layers import helper`, `from . import layers`) breaks them too,
    outside its functions: it can pass on what the other one reached.
    found: {module: check_source's result}, extended in place."""
    imports = {module: _student_imports(source) for module, source in sources.items()}
    changed = True
    while changed:
        changed = False
        for module, imported in imports.items():
            for line, other, names in imported:
                bad = found.get(other, {})
                if other == module or not bad or (names is not None and None not in bad and not any(
                        qualname.split('.')[0] in names for qualname in bad)):
                    continue
                what = f"what scratchnn/{other}.py breaks the rules with"
                if (line, what) not in found[module].get(None, []):
                    found[module].setdefault(None, []).append((line, what))
                    changed = True


def _student_imports(source):
    """[(line, student module, names imported from it or None for the module)]."""
    tree, _ = parse_module(source)
    found = []
    for node in ast.walk(tree) if tree is not None else ():
        module = _package_module(node) if isinstance(node, ast.ImportFrom) else None
        if module and _student_module(module):
            found.append((node.lineno, module, {a.name for a in node.names}))
        elif module == '':
            found.extend((node.lineno, a.name, None) for a in node.names if _student_module(a.name))
    return found


def _describe(module, qualname, found):
    """One line for the student: where, and the first uses with their lines and why."""
    if qualname:
        where = f"{module}.{qualname} uses"
    elif found[0][0] == 0:     # the module could not be read
        where = f"scratchnn/{module}.py is"
    else:
        where = f"scratchnn/{module}.py outside the functions you write uses"
    return f"{where} " + ', '.join(f"{what} (line {line})" if line else what
                                   for line, what in found[:5])
