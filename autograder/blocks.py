"""Solution blocks in the package's .py files.

A solution block is the lines between `### BEGIN SOLUTION` and
`### END SOLUTION`, always inside a function body. The release replaces each
block with a stub that raises NotImplementedError naming the function to
write; the autograder grades exactly the functions that hold a block.
"""
import ast
import re
from pathlib import Path

MAX_DEPTH = 100          # how deep a student module may nest (real modules: under 30 levels)


def parse_module(source):
    """(tree, None) for a module's source (str, or bytes as Python decodes a
    module) that can be analysed safely, else (None, why): not valid Python,
    or nested so deep that the parser or a walk of its tree would run out of
    stack or memory. The one way the trusted side parses student source."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return None, f"it is not valid Python ({f'line {e.lineno}: ' if e.lineno else ''}{e.msg})"
    except (RecursionError, MemoryError):   # the parser's own limits
        return None, "it nests expressions too deeply to be parsed"
    except ValueError as e:
        return None, f"it cannot be parsed ({e})"
    depth, stack = 0, [(tree, 1)]
    while stack:   # iteratively: a deep tree must not crash the check itself
        node, level = stack.pop()
        depth = max(depth, level)
        if depth > MAX_DEPTH:
            return None, f"it nests expressions or blocks more than {MAX_DEPTH} levels deep"
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(node))
    return tree, None


BEGIN = re.compile(r'^(\s*)### BEGIN SOLUTION\s*$')
END = re.compile(r'^\s*### END SOLUTION\s*$')


def functions(tree):
    """[(qualname, node)] of every function in an ast tree, methods as
    'Class.method', nested functions as 'outer.inner'."""
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


def function_spans(source):
    """[(first_line, last_line, qualname)] of every function, 1-based, inclusive."""
    return [(node.lineno, node.end_lineno, name) for name, node in functions(ast.parse(source))]


def find_blocks(source, filename='<source>'):
    """[(begin_line, end_line, indent, qualname)] of every solution block, 0-based
    line indices of the two marker lines. Raises ValueError on an unmatched
    marker or a block outside a function."""
    lines = source.splitlines()
    spans = function_spans(source)
    blocks, open_at = [], None
    for i, line in enumerate(lines):
        if BEGIN.match(line):
            if open_at is not None:
                raise ValueError(f"{filename}:{i + 1}: nested ### BEGIN SOLUTION")
            open_at = i
        elif END.match(line):
            if open_at is None:
                raise ValueError(f"{filename}:{i + 1}: ### END SOLUTION without a BEGIN")
            # The END marker is a comment, so it may lie past the function's last
            # statement: the block belongs to the function holding its first line.
            owners = [s for s in spans if s[0] <= open_at + 1 <= s[1]]
            if not owners:
                raise ValueError(f"{filename}:{open_at + 1}: solution block outside a function")
            qualname = max(owners, key=lambda s: s[0])[2]  # the innermost function
            blocks.append((open_at, i, BEGIN.match(lines[open_at]).group(1), qualname))
            open_at = None
    if open_at is not None:
        raise ValueError(f"{filename}:{open_at + 1}: ### BEGIN SOLUTION never ends")
    return blocks


def stub_source(source, module_path):
    """The source with every solution block replaced by a NotImplementedError stub.

    module_path: the file's path as students see it, e.g. 'scratchnn/layers.py'.
    """
    lines = source.splitlines(keepends=True)
    out, last = [], 0
    for begin, end, indent, qualname in find_blocks(source, module_path):
        out.extend(lines[last:begin])
        out.append(f'{indent}# YOUR CODE HERE\n')
        out.append(f'{indent}raise NotImplementedError('
                   f'"Implement {qualname} in {module_path}")\n')
        last = end + 1
    out.extend(lines[last:])
    return ''.join(out)


def student_functions(package_dir):
    """{module name: [qualname, ...]} of the functions holding a solution block."""
    found = {}
    for path in sorted(Path(package_dir).glob('*.py')):
        names = [q for _, _, _, q in find_blocks(path.read_text(), str(path))]
        if names:
            found[path.stem] = sorted(set(names), key=names.index)
    return found
