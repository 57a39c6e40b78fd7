"""The catalogue of typical student mistakes, and the machinery shared with
tests/variants: build a patched copy of the reference package, and grade a
package with the hidden suites.

A catalogue module (tests/mistakes/<module>.py, tests/variants/<module>.py)
defines CASES = {name: Case(...)}. A patch is {module: [edit, ...]} where an
edit is either (old, new), a text replacement whose `old` must occur exactly
once in the module, or a def: the full source of a function, written at
column 0, that replaces the function of that qualname ('Linear.backward')
while keeping its decorators.
"""
import ast
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from autograder.harness import grade_submission, load_rubric

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / 'solutions' / 'nn_from_scratch' / 'scratchnn'
SUITES = REPO / 'autograder' / 'suites'


@dataclass
class Case:
    patch: dict                                  # {module: [edit, ...]}
    suites: list                                 # suite files to grade, e.g. ['test_layers.py']
    loses: list = field(default_factory=list)    # items that must lose points (mistakes)
    may_lose: list = field(default_factory=list)  # dependent items allowed to lose points
    slow: bool = False


@dataclass
class Def:
    """Replace the function `qualname` by `source` (a def at column 0)."""
    qualname: str
    source: str


# ---------------------------------------------------------------- patching

def _function_node(tree, qualname):
    nodes = tree.body
    node = None
    for part in qualname.split('.'):
        node = next((n for n in nodes if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                     and n.name == part), None)
        if node is None:
            raise KeyError(f"no {qualname} in the module")
        nodes = node.body
    return node


def apply_edit(source, edit):
    """The module source with one edit applied (see the module docstring)."""
    if isinstance(edit, Def):
        node = _function_node(ast.parse(source), edit.qualname)
        lines = source.splitlines(keepends=True)
        body = textwrap.indent(textwrap.dedent(edit.source).strip('\n') + '\n',
                               ' ' * node.col_offset)
        return ''.join(lines[:node.lineno - 1]) + body + ''.join(lines[node.end_lineno:])
    old, new = edit
    count = source.count(old)
    if count != 1:
        raise ValueError(f"the edit's old text occurs {count} times, expected once: {old!r}")
    return source.replace(old, new)


def build_package(patch, dest):
    """A copy of the reference package at dest/scratchnn with the patch applied."""
    package = Path(dest) / 'scratchnn'
    shutil.copytree(REFERENCE, package, ignore=shutil.ignore_patterns('__pycache__'))
    for module, edits in patch.items():
        path = package / f'{module}.py'
        source = path.read_text()
        for edit in edits:
            source = apply_edit(source, edit)
        path.write_text(source)
    return package


# ---------------------------------------------------------------- grading

def rubric_tests():
    """{item: {test name: points}} from autograder/rubric.toml."""
    return {item: spec['tests'] for item, spec in load_rubric().items()}


def grade(package_dir, suites):
    """{item: {'score', 'max', 'failed': {test name: message}}} for the items
    the given suite files test, scored by the harness itself. The package is
    trusted (the reference with a known patch), so it runs in-process: no
    sandbox start-up per case."""
    results = grade_submission(Path(package_dir).parent, sandbox='inprocess', suite_files=suites)
    items = {item: {'score': v['score'], 'max': v['max_score'], 'failed': {}}
             for item, v in results['items'].items()}
    for test in results['tests']:
        if test['score'] < test['max_score']:
            items[test['number']]['failed'][test['name']] = test['output']
    return items


def load_catalogue(kind):
    """{(module, case name): Case} of tests/<kind>/*.py."""
    import importlib
    cases = {}
    for path in sorted((REPO / 'tests' / kind).glob('[a-z]*.py')):
        module = importlib.import_module(f'{kind}.{path.stem}')
        for name, case in module.CASES.items():
            cases[(path.stem, name)] = case
    return cases
