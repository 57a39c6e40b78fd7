"""The students' self-check, `python -m scratchnn.check`: the public checks of
every item in a table like the grader's, nothing on stderr, stubs read as
"not implemented yet", and `--zip` packs exactly what the grader takes."""
import json
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import RELEASE, SOLUTIONS
from autograder.blocks import student_functions
from autograder.rubric import load_rubric

RUBRIC = load_rubric()
IGNORE = shutil.ignore_patterns('__pycache__', '*.pyc', '.ipynb_checkpoints')


def assignment_copy(source, tmp_path, package=None):
    """A copy of an assignment folder; its scratchnn/ from `package` when given."""
    dest = tmp_path / 'nn_from_scratch'
    shutil.copytree(source, dest, ignore=IGNORE)
    if package is not None:
        shutil.rmtree(dest / 'scratchnn')
        shutil.copytree(package, dest / 'scratchnn', ignore=IGNORE)
    return dest


def self_check(folder, *args):
    """`python -m scratchnn.check ARGS` run in folder, as a student runs it."""
    return subprocess.run([sys.executable, '-m', 'scratchnn.check', *args], cwd=folder,
                          capture_output=True, text=True, timeout=600)


def table(stdout):
    """{item: (points, max, reason)} of the self-check's table."""
    rows = {}
    for line in stdout.splitlines():
        parts = line.split(None, 3)
        if parts and parts[0] in RUBRIC:
            rows[parts[0]] = (float(parts[1]), float(parts[2]), parts[3] if len(parts) > 3 else '')
    return rows


def test_blank_release_reads_not_implemented_yet(tmp_path):
    done = self_check(assignment_copy(RELEASE, tmp_path))
    assert done.returncode == 0 and done.stderr == '', done.stderr
    rows = table(done.stdout)
    assert list(rows) == list(RUBRIC), "one row per rubric item, in rubric order"
    for item, (points, max_points, reason) in rows.items():
        assert (points, max_points) == (0, RUBRIC[item].points), item
        assert reason.startswith('not implemented yet: ') and 'Traceback' not in reason, (item, reason)
    assert 'not implemented yet: Linear.forward in scratchnn/layers.py' in rows['linear_forward'][2]
    assert re.search(r'^total\s+0\s+100$', done.stdout, re.MULTILINE), done.stdout


@pytest.mark.slow
def test_complete_solution_passes_every_public_check(tmp_path):
    """Slow: the two training items train their nets."""
    done = self_check(assignment_copy(RELEASE, tmp_path, package=SOLUTIONS / 'scratchnn'))
    assert done.returncode == 0 and done.stderr == '', done.stderr
    rows = table(done.stdout)
    assert {item: row[:2] for item, row in rows.items()} == \
        {item: (info.points, info.points) for item, info in RUBRIC.items()}
    assert all(reason == '' for _, _, reason in rows.values())


def test_a_mistake_shows_its_reason_and_costs_only_its_item(tmp_path):
    folder = assignment_copy(RELEASE, tmp_path, package=SOLUTIONS / 'scratchnn')
    optim = folder / 'scratchnn' / 'optim.py'
    solution = 'm_hat = m / (1 - beta1 ** t)'
    assert solution in optim.read_text()
    # Adam without bias correction, and debugging output on stderr: neither may
    # reach the self-check's own stderr
    optim.write_text(optim.read_text().replace(
        solution, 'm_hat = m; import sys as _s; print("debug", file=_s.stderr)'))
    done = self_check(folder, '--notebook', '3')
    assert done.returncode == 0 and done.stderr == '', done.stderr
    rows = table(done.stdout)
    assert set(rows) == {item for item, info in RUBRIC.items() if info.notebook.startswith('03')}
    assert rows['adam'][0] == 0 and 'optim.adam with {} differs from the reference' in rows['adam'][2]
    assert rows['adamw'][0] == 0, "adamw shares _adam_step"
    assert rows['sgd'][:2] == (2, 2) and rows['rmsprop'][:2] == (3, 3)


def test_zip_packs_exactly_what_the_grader_takes(tmp_path):
    folder = assignment_copy(RELEASE, tmp_path)
    (folder / 'notes.txt').write_text('not for the grader')
    done = self_check(folder, '--zip', '--notebook', '2')
    assert done.returncode == 0 and done.stderr == '', done.stderr
    archive = folder / 'submission.zip'
    assert f'Submission written to {archive}' in done.stdout
    with zipfile.ZipFile(archive) as zf:
        names = sorted(zf.namelist())
        assert zf.read('scratchnn/layers.py') == (folder / 'scratchnn' / 'layers.py').read_bytes()
    modules = sorted(f'scratchnn/{module}.py' for module in student_functions(SOLUTIONS / 'scratchnn'))
    assert names == sorted(modules + [p.name for p in RELEASE.glob('*.ipynb')])
    # zipping again replaces the archive, and never packs it into itself
    from scratchnn.check import write_zip
    dest, packed, missing, notebooks = write_zip(folder)
    assert (dest, sorted(packed), missing) == (archive, names, [])
    assert notebooks == {p.name: (folder / p.name, 1) for p in RELEASE.glob('*.ipynb')}, \
        "without Colab's record of the course's files: the folder's own notebooks"
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == names
    (folder / 'scratchnn' / 'init.py').unlink()
    assert write_zip(folder)[2] == ['scratchnn/init.py'], "a missing module is reported"


def test_student_modules_are_the_graders():
    """The grader's student modules come from the rubric (it ships without the
    solutions); the student's check.py cannot import the grader and keeps its
    own list: both must be the modules holding a solution block."""
    from autograder.rubric import student_modules
    from scratchnn.check import STUDENT_MODULES
    assert sorted(STUDENT_MODULES) == student_modules() == sorted(student_functions(SOLUTIONS / 'scratchnn'))


def test_points_come_from_the_notebooks_graded_cells():
    from scratchnn.check import graded_items
    items = graded_items(RELEASE)
    assert [(item, points) for item, points, _ in items] == [(i, info.points) for i, info in RUBRIC.items()]
    assert all(notebook == RUBRIC[item].notebook for item, _, notebook in items)


@pytest.mark.slow
def test_in_a_notebook_kernel_the_table_goes_to_stdout_only(tmp_path):
    """The notebooks' self-check cell, on the blank release: one stdout stream,
    no error, nothing on stderr."""
    import nbformat
    from nbclient import NotebookClient
    folder = assignment_copy(RELEASE, tmp_path)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        'import sys, os; sys.path.insert(0, os.getcwd())\n'
        'from scratchnn.check import self_check\nself_check(notebook=3)')])
    NotebookClient(nb, kernel_name='python3', timeout=300,
                   resources={'metadata': {'path': str(folder)}}).execute()
    outputs = nb.cells[0].outputs
    assert [(o.output_type, o.get('name')) for o in outputs] == [('stream', 'stdout')], outputs
    assert 'not implemented yet: sgd in scratchnn/optim.py' in outputs[0].text
    assert json.dumps(outputs).count('Traceback') == 0
