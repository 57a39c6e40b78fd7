"""The student release (assignments/): fresh, free of solutions, stubs that name
themselves, graded cells that match the rubric, Colab links that match the
course repository."""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

from conftest import RELEASE, REPO, SOLUTIONS
from coursekit import release
from coursekit.blocks import BEGIN, END, find_blocks, stub_source, student_functions

RUBRIC = tomllib.loads((REPO / 'autograder' / 'rubric.toml').read_text())['items']
NOTEBOOKS = sorted({item['notebook'] for item in RUBRIC.values()})
# Shorter lines ('cache = x', 'x = cache', 'return dx') also occur in code that
# is no solution; a leak of real solution code always includes longer lines.
MIN_LINE = 20


def release_files(root=RELEASE):
    """{relative path: bytes} of every file under root."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob('*'))
            if p.is_file() and '__pycache__' not in p.parts}


def solution_lines():
    """Non-trivial lines inside the solution blocks of the package and of the
    notebooks' answer cells."""
    lines = set()
    for path in sorted((SOLUTIONS / 'scratchnn').glob('*.py')):
        source = path.read_text().splitlines()
        for begin, end, _, _ in find_blocks(path.read_text(), str(path)):
            lines.update(line.strip() for line in source[begin + 1:end])
    for name in NOTEBOOKS:
        for cell in nbformat.read(SOLUTIONS / name, as_version=4).cells:
            inside = False
            for line in cell.source.splitlines():
                if BEGIN.match(line):
                    inside = True
                elif END.match(line):
                    inside = False
                elif inside:
                    lines.add(line.strip())
    # The text outside the blocks ships with the release: a docstring may state
    # what a block computes ('cache = (dropout_param, mask)'), which is no leak.
    public = '\n'.join(stub_source(p.read_text(), p.name) for p in (SOLUTIONS / 'scratchnn').glob('*.py'))
    return {line for line in lines
            if len(line) >= MIN_LINE and not line.startswith('#') and line not in public}


def release_text():
    return {path: data.decode() for path, data in release_files().items()}


def test_committed_release_lists_every_notebook_and_module():
    files = release_files()
    assert sorted(p for p in files if p.endswith('.ipynb')) == NOTEBOOKS
    solution_modules = sorted(p.name for p in (SOLUTIONS / 'scratchnn').glob('*.py'))
    assert sorted(p.split('/')[1] for p in files if p.startswith('scratchnn/')) == solution_modules
    assert not any(p.endswith(('.db', '.pt', '.pyc')) for p in files), "no gradebook or build output"


@pytest.mark.slow
def test_committed_release_equals_fresh_generation(tmp_path):
    fresh = release.build(tmp_path / 'nn_from_scratch')
    committed, regenerated = release_files(RELEASE), release_files(fresh)
    assert sorted(committed) == sorted(regenerated), "run `make release`: the file lists differ"
    stale = [path for path in committed if committed[path] != regenerated[path]]
    assert not stale, f"run `make release`: {stale} differ from a fresh generation"


def test_no_solution_code_in_release():
    lines = solution_lines()
    assert len(lines) > 50, "the solution-line collector found too little to be meaningful"
    leaks = [(path, line) for path, text in release_text().items() for line in lines if line in text]
    assert not leaks, f"solution code in the release: {leaks[:5]}"
    for path, text in release_text().items():
        assert 'BEGIN SOLUTION' not in text and 'END SOLUTION' not in text, path


def code_lines(text):
    """The stripped, non-blank lines of a text."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def release_code():
    """{path: stripped non-blank lines} of the release, notebooks by cell source."""
    out = {}
    for path, text in release_text().items():
        if path.endswith('.ipynb'):
            text = '\n'.join(cell.source for cell in nbformat.reads(text, as_version=4).cells)
        out[path] = '\n'.join(code_lines(text))
    return out


def test_nothing_from_autograder_in_release():
    """No autograder file, and no run of three consecutive lines of one (single
    generic lines like `for dtype in (torch.float32, torch.float64):` may
    coincide), appears in the release."""
    sources = [p for p in sorted((REPO / 'autograder').rglob('*')) if p.is_file() and '__pycache__' not in p.parts]
    assert sources, "autograder/ is empty"
    released, raw = release_code(), release_files()
    for source in sources:
        data = source.read_bytes()
        assert data not in raw.values(), f"{source} copied into the release"
        lines = [line for line in code_lines(data.decode(errors='replace')) if not line.startswith('#')]
        windows = {'\n'.join(lines[i:i + 3]) for i in range(len(lines) - 2)
                   if max(len(line) for line in lines[i:i + 3]) >= MIN_LINE}
        leaks = [(path, w) for path, text in released.items() for w in windows if w in text]
        assert not leaks, f"{source.relative_to(REPO)} leaks into the release: {leaks[:2]}"


# Valid arguments for every student function: code before a solution block
# (argument checks) must pass so that the stub itself is reached.
CALL_STUBS = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
import torch
import scratchnn
from scratchnn import dropout, init, layers, normalization, optim
assert scratchnn.__file__.startswith(sys.argv[1]), scratchnn.__file__

x2, x4 = torch.randn(4, 3), torch.randn(2, 4, 2, 2)
ones3, zeros3, ones4, zeros4 = torch.ones(3), torch.zeros(3), torch.ones(4), torch.zeros(4)
bare_net = object.__new__(layers.FullyConnectedNet)
bare_net.dtype, bare_net.dropout_param, bare_net.bn_params = torch.float32, {}, []
CALLS = {
    'layers.Linear.forward': lambda: layers.Linear.forward(x2, torch.randn(3, 5), torch.zeros(5)),
    'layers.Linear.backward': lambda: layers.Linear.backward(torch.randn(4, 5), None),
    'layers.ReLU.forward': lambda: layers.ReLU.forward(x2),
    'layers.ReLU.backward': lambda: layers.ReLU.backward(x2, None),
    'layers.Linear_ReLU.forward': lambda: layers.Linear_ReLU.forward(x2, torch.randn(3, 5), torch.zeros(5)),
    'layers.Linear_ReLU.backward': lambda: layers.Linear_ReLU.backward(torch.randn(4, 5), None),
    'layers.softmax_loss': lambda: layers.softmax_loss(x2, torch.tensor([0, 1, 2, 0])),
    'layers.FullyConnectedNet.__init__': lambda: layers.FullyConnectedNet([5], input_dim=3),
    'layers.FullyConnectedNet.loss': lambda: bare_net.loss(x2, torch.tensor([0, 1, 2, 0])),
    'dropout.Dropout.forward': lambda: dropout.Dropout.forward(x2, {'p': 0.5, 'mode': 'train'}),
    'dropout.Dropout.backward': lambda: dropout.Dropout.backward(x2, None),
    'normalization.BatchNorm.forward': lambda: normalization.BatchNorm.forward(x2, ones3, zeros3, {'mode': 'train'}),
    'normalization.BatchNorm.backward': lambda: normalization.BatchNorm.backward(x2, None),
    'normalization.BatchNorm.backward_alt': lambda: normalization.BatchNorm.backward_alt(x2, None),
    'normalization.SpatialBatchNorm.forward': lambda: normalization.SpatialBatchNorm.forward(x4, ones4, zeros4, {'mode': 'train'}),
    'normalization.SpatialBatchNorm.backward': lambda: normalization.SpatialBatchNorm.backward(x4, None),
    'normalization.LayerNorm.forward': lambda: normalization.LayerNorm.forward(x2, ones3, zeros3, {}),
    'normalization.LayerNorm.backward': lambda: normalization.LayerNorm.backward(x2, None),
    'normalization.GroupNorm.forward': lambda: normalization.GroupNorm.forward(x4, ones4, zeros4, 2, {}),
    'normalization.GroupNorm.backward': lambda: normalization.GroupNorm.backward(x4, None),
    'optim._adam_step': lambda: optim._adam_step(x2, x2, {}),
}
for name in ('xavier_uniform', 'xavier_normal', 'kaiming_uniform', 'kaiming_normal'):
    CALLS[f'init.{name}'] = lambda name=name: getattr(init, name)(3, 4)
for name in ('sgd', 'sgd_momentum', 'nesterov', 'adagrad', 'rmsprop', 'adadelta', 'adam', 'adamw'):
    CALLS[f'optim.{name}'] = lambda name=name: getattr(optim, name)(x2, x2)

results = {}
for target in json.loads(sys.argv[2]):
    if target not in CALLS:
        results[target] = 'no call in the test for this function: add one to CALL_STUBS'
        continue
    try:
        CALLS[target]()
        results[target] = 'returned without raising'
    except NotImplementedError as e:
        results[target] = str(e)
    except Exception as e:
        results[target] = f'{type(e).__name__}: {e}'
print(json.dumps(results))
'''


def test_released_package_imports_and_every_stub_names_itself(tmp_path):
    targets = {f'{module}.{qualname}': f'Implement {qualname} in scratchnn/{module}.py'
               for module, names in student_functions(SOLUTIONS / 'scratchnn').items() for qualname in names}
    # -I: no PYTHONPATH, no current folder: only the release can provide scratchnn.
    proc = subprocess.run([sys.executable, '-I', '-c', CALL_STUBS, str(RELEASE), json.dumps(sorted(targets))],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    wrong = {t: (results.get(t), message) for t, message in targets.items() if results.get(t) != message}
    assert not wrong, f"stubs that do not raise NotImplementedError naming themselves: {wrong}"


def graded_cells(path):
    """[(grade_id, points, cell)] of the autograded (code) cells of a notebook."""
    cells = nbformat.read(path, as_version=4).cells
    return [(c.metadata['nbgrader']['grade_id'], c.metadata['nbgrader']['points'], c) for c in cells
            if c.metadata.get('nbgrader', {}).get('grade') and not c.metadata['nbgrader'].get('solution')]


def answer_cells(path):
    cells = nbformat.read(path, as_version=4).cells
    return [c for c in cells if c.metadata.get('nbgrader', {}).get('solution')]


@pytest.mark.parametrize('folder', [SOLUTIONS, RELEASE], ids=['solutions', 'release'])
def test_graded_cells_match_rubric(folder):
    expected = {name: {} for name in NOTEBOOKS}
    for item_id, item in RUBRIC.items():
        expected[item['notebook']][item_id] = item['points']
    for name in NOTEBOOKS:
        cells = graded_cells(folder / name)
        ids = [grade_id for grade_id, _, _ in cells]
        assert len(ids) == len(set(ids)), f"{name}: a rubric item has more than one graded cell"
        assert {grade_id: points for grade_id, points, _ in cells} == expected[name], name
        for grade_id, _, cell in cells:
            meta = cell.metadata['nbgrader']
            assert cell.cell_type == 'code' and meta['locked'] and not meta['task'], grade_id
            assert meta['schema_version'] == 3, grade_id


def test_graded_cells_end_with_a_print():
    """A graded cell whose last expression is a number would be read as partial
    credit by nbgrader; each ends with its OK line instead."""
    for name in NOTEBOOKS:
        for grade_id, _, cell in graded_cells(SOLUTIONS / name):
            last = ast.parse(cell.source).body[-1]
            assert isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) \
                and getattr(last.value.func, 'id', None) == 'print', f"{name}: {grade_id}"
            assert 'warn' not in cell.source, f"{name}: {grade_id} must not write to stderr"


def test_inline_questions_are_manually_graded_answer_cells():
    ids = set()
    for name in NOTEBOOKS:
        answers = answer_cells(SOLUTIONS / name)
        assert answers, f"{name} has no inline question"
        for cell in answers:
            meta = cell.metadata['nbgrader']
            assert cell.cell_type == 'markdown' and meta['grade'] and not meta['task'], meta
            assert meta['points'] in (1, 2), meta
            assert BEGIN.search(cell.source) or '### BEGIN SOLUTION' in cell.source, meta['grade_id']
            assert meta['grade_id'] not in RUBRIC and meta['grade_id'] not in ids, meta['grade_id']
            ids.add(meta['grade_id'])
        released = answer_cells(RELEASE / name)
        assert len(released) == len(answers)
        assert all('YOUR ANSWER HERE' in cell.source for cell in released), name


def test_source_notebooks_are_committed_without_outputs():
    for name in NOTEBOOKS:
        nb = nbformat.read(SOLUTIONS / name, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == 'code':
                assert cell.outputs == [] and cell.execution_count is None, f"{name}: clear the outputs"


@pytest.mark.parametrize('folder', [SOLUTIONS, RELEASE], ids=['solutions', 'release'])
def test_setup_cell_clones_the_course_repo(folder):
    for name in NOTEBOOKS:
        setup = nbformat.read(folder / name, as_version=4).cells[1].source
        assert re.findall(r"^COURSE_REPO = '([^']*)'", setup, re.MULTILINE) == [release.COURSE_REPO], name
        assert "'google.colab' in sys.modules" in setup and 'get_device()' in setup
        assert '%autoreload 2' in setup and 'sys.path.insert(0, os.getcwd())' in setup


@pytest.mark.parametrize('doc_path', [release.README, release.STUDENTS_DOC], ids=lambda p: p.name)
def test_docs_link_every_released_notebook(doc_path):
    doc = doc_path.read_text()
    assert release.colab_links(release.notebooks(RELEASE)) in doc, "run `make release` to refresh the links"
    for name in NOTEBOOKS:
        url = (f'https://colab.research.google.com/github/{release.COURSE_REPO}/blob/main/'
               f'assignments/nn_from_scratch/{name}')
        assert url in doc


def test_course_repo_must_be_owner_slash_repo(tmp_path):
    with pytest.raises(ValueError, match='OWNER/REPO'):
        release._set_course_repo(tmp_path, "evil'; import os")


def test_build_rejects_a_folder_without_the_package(tmp_path):
    with pytest.raises(FileNotFoundError, match='no scratchnn package'):
        release.build(tmp_path / 'out', source=tmp_path)


@pytest.mark.slow
def test_stock_nbgrader_generate_assignment_ships_no_solutions(tmp_path):
    """An instructor running plain `nbgrader generate_assignment` in the course
    gets stubs too: the config's post-convert hook strips the package."""
    course = tmp_path / 'course'
    shutil.copytree(SOLUTIONS, course / 'solutions' / 'nn_from_scratch',
                    ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
    (course / 'nbgrader_config.py').write_text(
        f"c = get_config()\nload_subconfig({str(REPO / 'nbgrader_config.py')!r})\n"
        f"c.CourseDirectory.root = {str(course)!r}\n")
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ['PATH']]))
    done = subprocess.run([sys.executable, '-m', 'nbgrader', 'generate_assignment', 'nn_from_scratch'],
                          cwd=course, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    released = course / 'assignments' / 'nn_from_scratch' / 'scratchnn'
    for module in ('layers', 'dropout', 'normalization', 'init', 'optim'):
        text = (released / f'{module}.py').read_text()
        assert 'BEGIN SOLUTION' not in text and 'raise NotImplementedError("Implement' in text, module
    solution = (SOLUTIONS / 'scratchnn' / 'layers.py').read_text()
    assert 'out = x.reshape(x.shape[0], -1) @ w + b' in solution
    assert 'out = x.reshape(x.shape[0], -1) @ w + b' not in (released / 'layers.py').read_text()
