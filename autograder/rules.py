"""The rule check: student parts may not use torch's autograd or its ready-made layers.

Forbidden: torch.nn (and torch.nn.functional), torch.autograd, torch.optim,
and the back doors to them: torch.func, torch._C, getattr(torch, <name>),
torch.__dict__ / vars(torch), __import__, importlib, sys.modules, eval,
exec and compile. Found by reading the source (ast), never by running it.

A use inside a function listed in rubric.toml `functions` costs the items
that list that function. A use anywhere else in the student's module (a
module-level `import torch.nn as nn`, a helper function, a class body)
costs every item of that module, since any student function may reach it.
"""
import ast

FORBIDDEN_MODULES = {'nn': 'torch.nn', 'autograd': 'torch.autograd', 'optim': 'torch.optim',
                     'func': 'torch.func', '_C': 'torch._C'}
FORBIDDEN_NAMES = {'__import__': '__import__', 'importlib': 'importlib', 'import_module':
                   'importlib.import_module', 'eval': 'eval', 'exec': 'exec',
                   'compile': 'compile', 'vars': 'vars', 'globals': 'globals'}
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
    if parts[0] in ('importlib',):
        return 'importlib'
    if parts[0] == 'torch' and len(parts) > 1 and parts[1] in FORBIDDEN_MODULES:
        return FORBIDDEN_MODULES[parts[1]]
    return None


class _Finder(ast.NodeVisitor):
    """Collects (line, what) of every forbidden use under a node.

    torch_names: names bound to the torch module (import torch as t, t2 = t).
    bad_names: names bound to forbidden modules (from torch import nn).
    """

    def __init__(self, torch_names, bad_names, recurse=True):
        self.torch_names, self.bad_names = torch_names, bad_names
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
        bad = _forbidden_module(module)
        if bad:
            self._hit(node, f"from {module} import ...")
        elif module == 'torch':
            for alias in node.names:
                if alias.name in FORBIDDEN_MODULES or alias.name == '*':
                    self._hit(node, f"from torch import {alias.name}")
        elif module in ('sys',) and any(a.name == 'modules' for a in node.names):
            self._hit(node, "sys.modules")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        base = node.value
        base_is_torch = (isinstance(base, ast.Name) and base.id in self.torch_names) or \
            (isinstance(base, ast.Attribute) and base.attr == 'torch')
        if base_is_torch and (node.attr in FORBIDDEN_MODULES or node.attr == '__dict__'):
            self._hit(node, f"torch.{node.attr}")
        elif _dotted(node) == 'sys.modules':
            self._hit(node, "sys.modules")
        elif node.attr in ('__import__', 'import_module', '__builtins__'):
            self._hit(node, node.attr)
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in FORBIDDEN_NAMES:
            self._hit(node, FORBIDDEN_NAMES[node.id])
        elif node.id in self.bad_names:
            self._hit(node, self.bad_names[node.id])
        elif node.id == '__builtins__':
            self._hit(node, '__builtins__')
        self.generic_visit(node)

    def visit_Call(self, node):
        # getattr(torch, 'nn') and getattr(torch, name): the dynamic way to torch.nn.
        if isinstance(node.func, ast.Name) and node.func.id in ('getattr', 'hasattr') and \
                node.args and isinstance(node.args[0], ast.Name) and \
                node.args[0].id in self.torch_names:
            name = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)
                    and name.value not in FORBIDDEN_MODULES and not name.value.startswith('__')):
                self._hit(node, f"{node.func.id}(torch, ...)")
        self.generic_visit(node)


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
            elif isinstance(node, ast.ImportFrom):
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


def _functions(tree):
    """[(qualname, node)] of every function, methods as 'Class.method'."""
    found = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((prefix + child.name, child))
                visit(child, prefix + child.name + '.')
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + '.')
            else:
                visit(child, prefix)

    visit(tree, '')
    return found


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
    inside, uses = set(), {}
    for qualname, node in _functions(tree):
        if qualname in student_functions:
            finder = _Finder(torch_names, bad_names)
            for statement in node.body:
                finder.visit(statement)
            if finder.found:
                uses.setdefault(qualname, []).extend(finder.found)
            inside.update(id(n) for n in ast.walk(node))
    finder = _Finder(torch_names, bad_names, recurse=False)
    for node in ast.walk(tree):
        if id(node) not in inside:
            finder.visit(node)
    if finder.found:
        uses[None] = sorted(set(finder.found))
    return uses


def check_submission(submission, rubric_items):
    """{item id: message} for every item a rule violation zeroes.

    submission: a submission.Submission (the student modules' source bytes).
    rubric_items: {item id: {'functions': ['module.QualName', ...], ...}}.
    """
    by_module = {}
    for item, spec in rubric_items.items():
        for target in spec.get('functions', []):
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
