"""The student release (assignments/) and the student repository (`coursekit
publish`): fresh, free of solutions, hidden tests and rubric details, stubs
that name themselves, graded cells that match the rubric and call their item's
public check, Colab links that match the student repository."""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import RELEASE, REPO, SOLUTIONS
from coursekit import publish, release
from autograder.blocks import BEGIN, student_functions
from autograder.rubric import student_modules
from leaks import NOTEBOOKS, RUBRIC, autograder_leaks, release_files, rubric_leaks, solution_leaks


# The leak checks run on the committed release and on the published student
# repository (slow: publishing generates the release afresh).
SHIPPED = [pytest.param(lambda request: RELEASE, id='release'),
           pytest.param(lambda request: request.getfixturevalue('published'), id='published',
                        marks=pytest.mark.slow)]


@pytest.mark.parametrize('shipped', SHIPPED)
def test_no_solution_code_in_release(shipped, request):
    leaks = solution_leaks(shipped(request))
    assert not leaks, f"solution code in what students get: {leaks[:5]}"


@pytest.mark.parametrize('shipped', SHIPPED)
def test_no_rubric_details_in_release(shipped, request):
    """The names of the hidden tests (the rubric's per-test points) stay with the grader."""
    leaks = rubric_leaks(shipped(request))
    assert not leaks, f"hidden test names in what students get: {leaks[:5]}"


@pytest.mark.parametrize('shipped', SHIPPED)
def test_nothing_from_autograder_in_release(shipped, request):
    leaks = autograder_leaks(shipped(request))
    assert not leaks, f"autograder/ leaks into what students get: {leaks[:2]}"


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
        expected[item.notebook][item_id] = item.points
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
        # the Colab logic lives in one given module, not in five copies of a long cell
        assert 'from scratchnn.colab import setup' in setup and len(setup.splitlines()) < 50


def test_setup_cells_are_one_cell_in_five_copies():
    """Every notebook's setup cell is the same up to its own imports."""
    heads = {name: nbformat.read(SOLUTIONS / name, as_version=4).cells[1].source.split('%autoreload 2')[0]
             for name in NOTEBOOKS}
    assert len(set(heads.values())) == 1, "the setup cells differ before their imports"


def test_graded_cells_call_their_items_public_check():
    """One copy of each public check (scratchnn/public_checks.py), called by the
    item's graded cell and by the self-check: in rubric order, one per item."""
    from scratchnn.public_checks import CHECKS
    assert list(CHECKS) == list(RUBRIC), "public_checks.CHECKS must list the rubric's items in order"
    for name in NOTEBOOKS:
        for grade_id, _, cell in graded_cells(SOLUTIONS / name):
            calls = re.findall(r'public_checks\.(\w+)\(', cell.source)
            assert calls == [grade_id], f"{name}: the graded cell {grade_id} calls {calls}"
            assert 'assert' not in cell.source, f"{name}: {grade_id} keeps its asserts in public_checks.py"


@pytest.mark.parametrize('doc_path', [release.README, release.STUDENTS_DOC], ids=lambda p: p.name)
def test_docs_link_every_released_notebook(doc_path):
    doc = doc_path.read_text()
    assert release.colab_links(release.notebooks(RELEASE)) in doc, "run `make release` to refresh the links"
    owner_repo = release.COURSE_REPO.removeprefix('https://github.com/')
    for name in NOTEBOOKS:
        url = f'https://colab.research.google.com/github/{owner_repo}/blob/main/nn_from_scratch/{name}'
        assert url in doc


@pytest.mark.parametrize('bad', ["https://github.com/a/b'; import os", 'scratchnn-course/nn-from-scratch',
                                 'https://gitlab.com/a/b', 'https://github.com/a'])
def test_course_repo_must_be_a_github_address(tmp_path, bad):
    (tmp_path / 'x.ipynb').write_text("COURSE_REPO = 'https://github.com/a/b'")
    with pytest.raises(ValueError, match='https://github.com/OWNER/REPO'):
        release._set_course_repo(tmp_path, bad)
    with pytest.raises(ValueError, match='https://github.com/OWNER/REPO'):
        release.colab_url('x.ipynb', bad)


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
    for module in student_modules():
        text = (released / f'{module}.py').read_text()
        assert 'BEGIN SOLUTION' not in text and 'raise NotImplementedError("Implement' in text, module
    solution = (SOLUTIONS / 'scratchnn' / 'layers.py').read_text()
    assert 'out = x.reshape(x.shape[0], -1) @ w + b' in solution
    assert 'out = x.reshape(x.shape[0], -1) @ w + b' not in (released / 'layers.py').read_text()


# ------------------------------------------------------------ the student repository

def tracked(folder):
    return subprocess.run(['git', '-C', str(folder), 'ls-files'], capture_output=True, text=True,
                          check=True).stdout.split()


def commits(folder):
    return subprocess.run(['git', '-C', str(folder), 'rev-list', '--count', 'HEAD'], capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.mark.slow
def test_published_repository_holds_only_what_students_may_see(published):
    files = tracked(published)
    release_part = sorted(f'nn_from_scratch/{path}' for path in release_files(RELEASE))
    assert sorted(f for f in files if f.startswith('nn_from_scratch/')) == release_part
    assert sorted(f for f in files if not f.startswith('nn_from_scratch/')) == \
        ['.gitignore', 'README.md', 'constraints.txt', 'docs/companion-api.md', 'requirements.txt']
    # generated afresh from solutions/, it equals the committed release
    for path in release_files(RELEASE):
        assert (published / 'nn_from_scratch' / path).read_bytes() == (RELEASE / path).read_bytes(), path
    readme = (published / 'README.md').read_text()
    assert release.colab_links(NOTEBOOKS) in readme
    for given in ('data.py', 'check.py', 'public_checks.py', 'colab.py'):
        assert f'nn_from_scratch/scratchnn/{given}' in files
    assert not any(part in f for f in files for part in ('solutions/', 'autograder', 'rubric'))


@pytest.mark.slow
def test_publishing_again_commits_only_a_change(published, tmp_path):
    published = Path(shutil.copytree(published, tmp_path / 'copy', symlinks=True))  # others share it
    before = int(commits(published))
    _, commit = publish.publish(published)
    assert commit is None and int(commits(published)) == before, "nothing changed: no new commit"
    # what is not the course's goes: an edit is undone, a stray file removed
    layers = published / 'nn_from_scratch' / 'scratchnn' / 'layers.py'
    layers.write_text('# edited\n')
    (published / 'stray.txt').write_text('not the course')
    _, commit = publish.publish(published)
    assert commit is None and int(commits(published)) == before
    assert layers.read_bytes() == (RELEASE / 'scratchnn' / 'layers.py').read_bytes()
    assert not (published / 'stray.txt').exists()
    # a change of the course is one new commit
    source = Path(shutil.copytree(SOLUTIONS, tmp_path / 'source', ignore=shutil.ignore_patterns('__pycache__')))
    data = source / 'scratchnn' / 'data.py'
    data.write_text(data.read_text() + '\n# a new helper\n')
    _, commit = publish.publish(published, source=source)
    assert commit is not None and int(commits(published)) == before + 1
    assert (published / 'nn_from_scratch' / 'scratchnn' / 'data.py').read_text().endswith('# a new helper\n')


def test_publish_refuses_a_folder_that_is_no_student_repository(tmp_path):
    with pytest.raises(publish.PublishError, match='private'):
        publish.check_destination(REPO)
    with pytest.raises(publish.PublishError, match='private'):
        publish.check_destination(REPO.parent)
    busy = tmp_path / 'busy'
    busy.mkdir()
    (busy / 'notes.txt').write_text('mine')
    with pytest.raises(publish.PublishError, match='not empty and not a git repository'):
        publish.check_destination(busy)
    subprocess.run(['git', 'init', '--quiet', str(busy)], check=True)
    (busy / 'solutions').mkdir()
    (busy / 'solutions' / 'x.py').write_text('secret = 1\n')
    subprocess.run(['git', '-C', str(busy), 'add', '--all'], check=True)
    with pytest.raises(publish.PublishError, match='solutions/x.py'):
        publish.check_destination(busy)
    assert (busy / 'notes.txt').exists() and (busy / 'solutions' / 'x.py').exists(), "nothing was removed"
    publish.check_destination(tmp_path / 'new')        # absent: fine
    (tmp_path / 'empty').mkdir()
    publish.check_destination(tmp_path / 'empty')      # empty: fine
