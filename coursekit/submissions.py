"""Submissions made from a package by editing its modules: the one builder
behind the demo's sample students (samples.py) and the project's catalogues
of mistakes, correct variants and hostile code (tests/).

    build_package(dest / 'scratchnn', SOLUTIONS_PACKAGE,
                  {'layers': [('x.T', 'x'), Def('Linear.backward', SOURCE), Append(TEXT)]})

An edit is one of:
- (old, new): replace the text `old`, which must occur exactly once;
- Def(qualname, source): replace the whole function 'Class.method' by
  `source`, a def written at column 0, keeping its decorators;
- Append(text): add text at the end of the module (creating it if absent);
- RenameLocals(prefix): rename the local variables of every function, as
  one who copies a classmate's code does first.
"""
import ast
import io
import re
import shutil
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path

from autograder.blocks import functions


@dataclass(frozen=True)
class Def:
    """Replace the function `qualname` by `source` (a def at column 0)."""
    qualname: str
    source: str


@dataclass(frozen=True)
class Append:
    """Add `text` at the end of the module."""
    text: str


@dataclass(frozen=True)
class RenameLocals:
    """Prefix every local variable of every function (its parameters stay:
    they are the package's contract)."""
    prefix: str = 'my_'


def local_names(tree):
    """{(first line, last line): the names each function assigns, less its parameters}."""
    spans = {}
    for _, node in functions(tree):
        args = node.args
        params = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        stored = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        spans[(node.lineno, node.end_lineno)] = stored - params
    return spans


def rename_locals(source: str, prefix: str) -> str:
    """source with each function's local variables prefixed: the names
    themselves and their uses in f-strings, never attributes, keyword
    arguments or the names of functions (a method `loss` with a local `loss`)."""
    spans = local_names(ast.parse(source))
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))

    def names_at(row):
        return set().union(*[names for (first, last), names in spans.items() if first <= row <= last])

    depth, out = 0, []
    for k, tok in enumerate(tokens):
        names = names_at(tok.start[0])
        after = tokens[k + 1].string if k + 1 < len(tokens) else ''
        before = tokens[k - 1].string if k else ''
        if tok.type == tokenize.OP:
            depth += tok.string in '([{'
            depth -= tok.string in ')]}'
        if tok.type == tokenize.NAME and tok.string in names and before not in ('.', 'def', 'class') \
                and not (depth and after == '='):
            tok = tok._replace(string=prefix + tok.string)
        elif tok.type == tokenize.STRING and tok.string[:2].lower() in ('f"', "f'") and names:
            pattern = r'(?<=\{)(' + '|'.join(map(re.escape, sorted(names))) + r')\b'
            tok = tok._replace(string=re.sub(pattern, prefix + r'\1', tok.string))
        out.append(tok)
    return tokenize.untokenize(out)


def apply_edit(source: str, edit) -> str:
    """The module source with one edit applied; ValueError when it does not fit."""
    if isinstance(edit, Append):
        return source + edit.text
    if isinstance(edit, RenameLocals):
        return rename_locals(source, edit.prefix)
    if isinstance(edit, Def):
        node = dict(functions(ast.parse(source))).get(edit.qualname)
        if node is None:
            raise ValueError(f"no {edit.qualname} in the module")
        lines = source.splitlines(keepends=True)
        body = textwrap.indent(textwrap.dedent(edit.source).strip('\n') + '\n', ' ' * node.col_offset)
        return ''.join(lines[:node.lineno - 1]) + body + ''.join(lines[node.end_lineno:])
    old, new = edit
    count = source.count(old)
    if count != 1:
        raise ValueError(f"the edit's old text occurs {count} times, expected once: {old!r}")
    return source.replace(old, new)


def build_package(dest: Path, source: Path, edits: dict, modules=None) -> Path:
    """dest: a copy of the package folder `source` (only `modules`, by name,
    when given) with edits {module: [edit, ...]} applied. Returns dest."""
    dest, source = Path(dest), Path(source)
    dest.mkdir(parents=True, exist_ok=True)
    names = [source / f'{m}.py' for m in modules] if modules is not None else sorted(source.glob('*.py'))
    for path in names:
        shutil.copyfile(path, dest / path.name)
    for module, module_edits in edits.items():
        path = dest / f'{module}.py'
        text = path.read_text() if path.exists() else ''
        for edit in module_edits:
            text = apply_edit(text, edit)
        path.write_text(text)
    return dest
