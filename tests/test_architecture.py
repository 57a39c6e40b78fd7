"""The grader's dependencies point one way: coursekit (the instructor's
pipeline) uses autograder, never the reverse, so that the grader ships alone
(Gradescope, Dask nodes)."""
import ast

from conftest import REPO


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_the_autograder_never_imports_coursekit():
    offenders = sorted(f"{path.relative_to(REPO)} imports {name}"
                       for path in (REPO / 'autograder').rglob('*.py')
                       for name in imported_modules(path)
                       if name == 'coursekit' or name.startswith('coursekit.'))
    assert not offenders, offenders


def test_the_scan_sees_an_import_of_coursekit(tmp_path):
    module = tmp_path / 'm.py'
    module.write_text("def f():\n    from coursekit.release import build\n")
    assert list(imported_modules(module)) == ['coursekit.release']
