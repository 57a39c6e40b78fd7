"""The rule check: student parts may not use torch's autograd or its ready-made layers.

Forbidden: torch.nn (and torch.nn.functional), torch.autograd, torch.optim,
and the back doors to them: torch.func, functorch, torch._C and every other
torch._ name, getattr(torch, <name>), torch.__dict__ / vars(torch),
__import__, importlib, sys.modules, sys._getframe, eval, exec, compile,
string-built lookups (operator.attrgetter / methodcaller), the
introspection that reaches around the run-time lockdown (gc, ctypes,
inspect, builtins, threads and processes, code objects, __globals__,
__subclasses__, ...), and a given module's imports (`from .conv import F`:
a given module may be used through the names it defines, nothing else).
Found by reading the source (ast), never by running it; the child process
also refuses such uses at run time (lockdown.py), which catches what no
spelling rule can.

A use inside a function an item grades (rubric.toml `functions`) costs the items
that list that function. A use anywhere else in the student's module (a
module-level `import torch.nn as nn`, a helper function, a class body, a
default argument or decorator, which run at import) costs every item of
that module, since any student function may reach it.
"""
import ast
from functools import lru_cache

from .blocks import functions
from .course import COURSE

FORBIDDEN_MODULES = {'nn': 'torch.nn', 'autograd': 'torch.autograd', 'optim': 'torch.optim',
                     'func': 'torch.func', '_C': 'torch._C'}
FORBIDDEN_NAMES = {'__import__': '__import__', 'importlib': 'importlib', 'import_module':
                   'importlib.import_module', 'eval': 'eval', 'exec': 'exec',
                   'compile': 'compile', 'vars': 'vars', 'globals': 'globals',
                   'attrgetter': 'operator.attrgetter', 'methodcaller': 'operator.methodcaller',
                   '_getframe': 'sys._getframe', 'CodeType': 'types.CodeType',
                   'FunctionType': 'types.FunctionType'}
# Modules that reach around the run-time lockdown (objects, frames, memory,
# other threads or processes): no hand-written layer needs them.
FORBIDDEN_TOP_MODULES = {'importlib', 'functorch', 'gc', 'ctypes', 'inspect', 'builtins',
                         '_imp', '_thread', 'threading', 'multiprocessing', 'subprocess',
                         'concurrent', 'marshal', 'pickle', 'dill', 'cffi', 'code', 'codeop',
                         'sys', 'types'}
# Attributes that lead from any object to code, frames or other modules.
FORBIDDEN_DUNDERS = {'__globals__', '__builtins__', '__subclasses__', '__mro__', '__bases__',
                     '__base__', '__code__', '__closure__', '__func__', '__getattribute__',
                     '__loader__', '__spec__', '__import__', '__reduce__', '__reduce_ex__',
                     '__traceback__', 'tb_frame', 'f_globals', 'f_locals', 'f_back',
                     'gi_frame', 'cr_frame', '__dict__', '_getframe', 'cell_contents'}
GIVEN_MODULES = ('gradcheck', 'data', 'solver', 'conv', 'device', '_checks')
RULE = ("scratchnn must be written by hand: torch.nn, torch.nn.functional, torch.autograd "
        "and torch.optim (and ways around them) are not allowed")


def _dotted(node):
    """'a.b.c' for a chain of Names/Attributes, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return '.'.join(reversed(parts))
    return None


def _forbidden_module(name):
    """The forbidden module that dotted module name is or lies in, else None."""
    parts = name.split('.')
    if parts[0] in FORBIDDEN_TOP_MODULES and not (parts[0] == 'sys' and len(parts) == 1):
        return parts[0]
    if parts[0] == 'torch' and len(parts) > 1 and (parts[1] in FORBIDDEN_MODULES
                                                   or parts[1].startswith('_')):
        return FORBIDDEN_MODULES.get(parts[1], f'torch.{parts[1]}')
    return None


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
    names = set()
    for node in ast.parse(path.read_bytes()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return frozenset(n for n in names if not n.startswith('__'))


def _given_module(module, level):
    """The given module an import names (from . import conv / from .conv / scratchnn.conv), else None."""
    parts = (module or '').split('.') if module else []
    if level == 0 and parts[:1] == ['scratchnn']:
        parts = parts[1:]
    elif level == 0:
        return None
    return parts[0] if len(parts) == 1 and parts[0] in GIVEN_MODULES else None


class _Finder(ast.NodeVisitor):
    """Collects (line, what) of every forbidden use under a node.

    torch_names: names bound to the torch module (import torch as t, t2 = t).
    bad_names: names bound to forbidden modules (from torch import nn).
    """

    def __init__(self, torch_names, bad_names, given_aliases=None, recurse=True):
        self.torch_names, self.bad_names = torch_names, bad_names
        self.given_aliases = given_aliases or {}   # name -> given module it is bound to
        self.recurse = recurse  # False: look at each visited node alone
        self.found = []

    def generic_visit(self, node):
        if self.recurse:
            super().generic_visit(node)

    def _hit(self, node, what):
        self.found.append((node.lineno, what))

    def visit_Import(self, node):
        for alias in node.names:
            bad = _forbidden_module(alias.name)
            if bad:
                self._hit(node, f"import {alias.name}")
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        module = node.module or ''
        bad = _forbidden_module(module) if node.level == 0 else None
        given = _given_module(module, node.level)
        if bad:
            self._hit(node, f"from {module} import ...")
        elif given:
            for alias in node.names:
                if alias.name not in given_names(given):
                    self._hit(node, f"from {given} import {alias.name} (given modules may be "
                                    f"used only through the names they define)")
        elif node.level == 0 and module == 'torch':
            for alias in node.names:
                if alias.name in FORBIDDEN_MODULES or alias.name == '*' or alias.name.startswith('_'):
                    self._hit(node, f"from torch import {alias.name}")
        elif node.level == 0 and module in ('sys',) and any(a.name in ('modules', '_getframe')
                                                           for a in node.names):
            self._hit(node, "sys.modules")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        base = node.value
        base_is_torch = (isinstance(base, ast.Name) and base.id in self.torch_names) or \
            (isinstance(base, ast.Attribute) and base.attr == 'torch')
        given = self.given_aliases.get(base.id) if isinstance(base, ast.Name) else None
        if base_is_torch and (node.attr in FORBIDDEN_MODULES or node.attr.startswith('_')):
            self._hit(node, f"torch.{node.attr}")
        elif _dotted(node) == 'sys.modules':
            self._hit(node, "sys.modules")
        elif node.attr in FORBIDDEN_DUNDERS:
            self._hit(node, node.attr)
        elif node.attr in FORBIDDEN_NAMES:   # operator.attrgetter, importlib.import_module
            self._hit(node, FORBIDDEN_NAMES[node.attr])
        elif given and node.attr not in given_names(given):
            self._hit(node, f"{given}.{node.attr} (given modules may be used only through "
                            f"the names they define)")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in FORBIDDEN_NAMES:
            self._hit(node, FORBIDDEN_NAMES[node.id])
        elif node.id in self.bad_names:
            self._hit(node, self.bad_names[node.id])
        elif node.id in ('__builtins__', '__loader__', '__spec__'):
            self._hit(node, node.id)
        self.generic_visit(node)

    def visit_Call(self, node):
        # getattr(torch, 'nn'), getattr(obj, name): the dynamic ways around the
        # rules. A constant, harmless name is fine (getattr(self, 'cache', None)).
        if isinstance(node.func, ast.Name) and node.func.id in ('getattr', 'hasattr', 'setattr',
                                                                'delattr'):
            name = node.args[1] if len(node.args) > 1 else None
            on_torch = bool(node.args) and isinstance(node.args[0], ast.Name) and \
                node.args[0].id in self.torch_names
            constant = isinstance(name, ast.Constant) and isinstance(name.value, str)
            if not constant or name.value in FORBIDDEN_DUNDERS or (
                    on_torch and (name.value in FORBIDDEN_MODULES or name.value.startswith('_'))):
                self._hit(node, f"{node.func.id}({'torch' if on_torch else '...'}, "
                                f"{repr(name.value) if constant else 'a computed name'})")
        self.generic_visit(node)


def _given_aliases(tree):
    """{name: given module} for every given module imported by name (from . import conv)."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ''
            package = node.level > 0 and not module or (node.level == 0 and module == 'scratchnn')
            for alias in node.names:
                if package and alias.name in GIVEN_MODULES:
                    found[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split('.')
                if parts[:1] == ['scratchnn'] and len(parts) == 2 and parts[1] in GIVEN_MODULES \
                        and alias.asname:
                    found[alias.asname] = parts[1]
    return found


def _aliases(tree):
    """(names bound to torch, {name: forbidden module} bound anywhere in the module)."""
    torch_names, bad_names = {'torch'}, {}
    for _ in range(3):  # alias chains: t = torch; u = t
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bad = _forbidden_module(alias.name)
                    if alias.name == 'torch' and alias.asname:
                        torch_names.add(alias.asname)
                    elif bad and alias.asname:
                        bad_names[alias.asname] = bad
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                module = node.module or ''
                for alias in node.names:
                    full = f"{module}.{alias.name}"
                    bad = _forbidden_module(full) or _forbidden_module(module)
                    if bad:
                        bad_names[alias.asname or alias.name] = bad
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        if node.value.id in torch_names:
                            torch_names.add(target.id)
                        elif node.value.id in bad_names:
                            bad_names[target.id] = bad_names[node.value.id]
    return torch_names, bad_names


def check_source(source, student_functions):
    """Forbidden uses in one module's source (str, or bytes decoded as Python
    decodes a module: by its coding cookie).

    student_functions: qualnames of the module's graded functions.
    Returns {qualname or None: [(line, what)]}; None collects uses outside
    those functions (they count against the whole module). A file that does
    not parse returns {} (its import fails, which costs its items anyway).
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    torch_names, bad_names = _aliases(tree)
    given = _given_aliases(tree)
    inside, uses = set(), {}
    for qualname, node in functions(tree):
        if qualname in student_functions:
            finder = _Finder(torch_names, bad_names, given)
            for statement in node.body:
                finder.visit(statement)
            if finder.found:
                uses.setdefault(qualname, []).extend(finder.found)
            # Only the body: default arguments and decorators run at import,
            # so a use there costs the whole module (found below).
            inside.update(id(n) for statement in node.body for n in ast.walk(statement))
    finder = _Finder(torch_names, bad_names, given, recurse=False)
    for node in ast.walk(tree):
        if id(node) not in inside:
            finder.visit(node)
    if finder.found:
        uses[None] = sorted(set(finder.found))
    return uses


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
    messages = {}
    for module, functions in sorted(by_module.items()):
        source = submission.source(module)
        if source is None:
            continue
        uses = check_source(source, set(functions))
        for qualname, found in uses.items():
            where = f"{module}.{qualname}" if qualname else f"scratchnn/{module}.py outside " \
                                                            f"the functions you write"
            detail = ', '.join(f"{what} (line {line})" for line, what in found[:5])
            items = functions[qualname] if qualname else sorted({i for v in functions.values() for i in v})
            for item in items:
                messages.setdefault(item, []).append(f"{where} uses {detail}")
    return {item: f"Rule violation: {'; '.join(found)}. {RULE}; this item gets 0 points."
            for item, found in messages.items()}
