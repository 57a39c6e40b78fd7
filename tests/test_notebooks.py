"""The notebooks run: the solution notebooks top to bottom with every graded
cell passing and silent on stderr (and `nbgrader validate` agrees on the
first), and the released notebooks up to the first function the student has
to write.

Slow: each test starts a Jupyter kernel.
"""
import re
import shutil
import subprocess
import sys
import time

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from autograder.rubric import load_rubric
from conftest import RELEASE, REPO, SOLUTIONS

RUBRIC = load_rubric()
NOTEBOOKS = sorted({item.notebook for item in RUBRIC.values()})
# Each notebook runs in well under 2 minutes on 2 CPU cores; the limit leaves
# room for a loaded CI machine.
NOTEBOOK_TIMEOUT = 300


def copy_assignment(folder, tmp_path):
    """A private copy of an assignment folder, so kernels write nothing into the repo."""
    dest = tmp_path / folder.name
    shutil.copytree(folder, dest, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints'))
    return dest


def execute(path, allow_errors=False):
    """Execute the notebook at path with the python3 kernel of this interpreter,
    in the notebook's folder. Returns (executed notebook, seconds)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name='python3', timeout=NOTEBOOK_TIMEOUT,
                            allow_errors=allow_errors, resources={'metadata': {'path': str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - start


WIDGET = 'application/vnd.jupyter.widget-view+json'


def progress_outputs(nb):
    """The outputs of a notebook that come from progress bars: text bars
    ('45%|####  |', carriage returns) and widget bars."""
    found = []
    for cell in nb.cells:
        for output in cell.get('outputs', []):
            text = output.get('text', '') + str(output.get('data', {}).get('text/plain', ''))
            if '\r' in text or re.search(r'\d+%\|', text) or WIDGET in output.get('data', {}):
                found.append(output)
    return found


def is_graded_test(cell):
    meta = cell.metadata.get('nbgrader', {})
    return cell.cell_type == 'code' and meta.get('grade') and not meta.get('solution')


@pytest.mark.slow
@pytest.mark.timeout(NOTEBOOK_TIMEOUT + 60)
@pytest.mark.parametrize('name', NOTEBOOKS)
def test_solution_notebook_runs_clean(name, tmp_path):
    folder = copy_assignment(SOLUTIONS, tmp_path)
    nb, seconds = execute(folder / name)   # raises CellExecutionError on any error
    print(f'{name}: {seconds:.1f} s')
    assert seconds < NOTEBOOK_TIMEOUT
    graded = [cell for cell in nb.cells if is_graded_test(cell)]
    assert len(graded) == sum(item.notebook == name for item in RUBRIC.values())
    for cell in graded:
        grade_id = cell.metadata['nbgrader']['grade_id']
        streams = [o for o in cell.outputs if o.output_type == 'stream']
        assert not [o for o in streams if o.name == 'stderr'], f"{grade_id} wrote to stderr"
        assert not [o for o in cell.outputs if o.output_type in ('error', 'execute_result')], grade_id
        assert 'OK' in ''.join(o.text for o in streams), f"{grade_id} printed no OK line"
    # run headless, the notebook's trainings show no progress bar at all
    assert progress_outputs(nb) == [], f"progress bars in the saved outputs: {progress_outputs(nb)[:3]}"


@pytest.mark.slow
@pytest.mark.timeout(NOTEBOOK_TIMEOUT + 60)
@pytest.mark.parametrize('name', NOTEBOOKS[:1])
def test_nbgrader_validate_passes_on_solution(name, tmp_path):
    """`nbgrader validate` (it executes the notebook again, with nbgrader's own
    preprocessors) must report success. It fails a notebook for exactly what
    test_solution_notebook_runs_clean checks in every notebook (an error in a
    graded cell), so one notebook proves that nbgrader's tooling agrees."""
    folder = copy_assignment(SOLUTIONS, tmp_path)
    proc = subprocess.run([sys.executable, '-m', 'nbgrader', 'validate', str(folder / name)],
                          cwd=REPO, capture_output=True, text=True, timeout=NOTEBOOK_TIMEOUT + 30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'Success! Your notebook passes all the tests.' in proc.stdout, proc.stdout + proc.stderr


def first_function(name):
    """module.QualName of the first function the notebook asks for: the first
    function of its first rubric item (the notebooks follow rubric order)."""
    items = [item for item in RUBRIC.values() if item.notebook == name and item.functions]
    return items[0].functions[0]


@pytest.mark.slow
@pytest.mark.timeout(NOTEBOOK_TIMEOUT + 60)
@pytest.mark.parametrize('name', NOTEBOOKS)
def test_released_notebook_stops_at_first_stub(name, tmp_path):
    folder = copy_assignment(RELEASE, tmp_path)
    with pytest.raises(CellExecutionError) as failure:
        execute(folder / name)
    module, qualname = first_function(name).split('.', 1)
    assert failure.value.ename == 'NotImplementedError', failure.value
    assert failure.value.evalue == f'Implement {qualname} in scratchnn/{module}.py'


class FrontendClient(NotebookClient):
    """A NotebookClient that, like JupyterLab or Colab, lets the kernel ask for
    input: the kernel's sign that a person is watching."""

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        kc.allow_stdin = True
        return kc


TRAINING_CELL = """
import sys; sys.path.insert(0, {package!r})
import scratchnn
data = scratchnn.data.load_digits()
model = scratchnn.FullyConnectedNet([20], input_dim=64, seed=0)
scratchnn.Solver(model, data, update_rule='sgd', optim_config={{'learning_rate': 0.1}}, num_epochs=3).train()
print('trained')
"""


@pytest.mark.slow
@pytest.mark.parametrize('frontend', [True, False], ids=['jupyter', 'headless'])
def test_progress_bar_is_one_widget_in_jupyter_and_none_headless(frontend, tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        TRAINING_CELL.format(package=str(SOLUTIONS)))])
    client = (FrontendClient if frontend else NotebookClient)(
        nb, kernel_name='python3', timeout=NOTEBOOK_TIMEOUT, resources={'metadata': {'path': str(tmp_path)}})
    client.execute()
    outputs = nb.cells[0].outputs
    streams = ''.join(o.text for o in outputs if o.output_type == 'stream')
    assert streams == 'trained\n', "no text bar, nothing on stderr"
    widgets = [o for o in outputs if WIDGET in o.get('data', {})]
    assert len(widgets) == (1 if frontend else 0), outputs
    assert len(outputs) == (2 if frontend else 1), outputs
