"""A student's path through the published student repository, in a fake Colab.

The student repository is published into a temporary folder and pushed to a
local bare repository; git's `url.<bare>.insteadOf <COURSE_REPO>` (a temporary
GIT_CONFIG_GLOBAL) makes the notebooks' own clone of COURSE_REPO fetch it, so
the setup cell runs unchanged. The kernel runs in a folder standing in for
/content with a fake `google.colab` whose drive.mount links a temporary folder
that outlives the "runtime". Then, as the published README tells her: the
setup cell as published, the self-check cell, the student's work on Drive and
in notebooks saved with File > Save a copy in Drive, the instructor's next
publication, a second runtime that keeps her work and brings the fix, the
hand-in zip, and the grader's score of it; and a clone that fails with a
one-line message. Also the local install: the README's command takes torch's
CPU build.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from packaging.utils import canonicalize_name

from autograder.integrations.gradescope import TORCH_CPU_INDEX
from conftest import REPO
from coursekit import publish, release
from leaks import RUBRIC, autograder_leaks, rubric_leaks, solution_leaks

NOTEBOOK = '01_layers_and_gradient_checking.ipynb'
STUDENTS_README = release.STUDENTS_DOC   # the README that publish writes
FAKE_DRIVE_MODULE = '''
import os

def mount(mountpoint, force_remount=False):
    """Colab's drive.mount, faked: mountpoint/MyDrive is the test's Drive folder."""
    os.makedirs(mountpoint, exist_ok=True)
    link = os.path.join(mountpoint, 'MyDrive')
    if not os.path.exists(link):
        os.symlink(os.environ['FAKE_GOOGLE_DRIVE'], link)
    print('Mounted at', mountpoint)
'''


@pytest.fixture(scope='module')
def colab(published, tmp_path_factory):
    """(environment for kernels: the fake google.colab, git redirected to a bare
    copy of the student repository, the Drive folder; the Drive folder; the bare
    copy, which a test may push the instructor's next publication to)."""
    root = tmp_path_factory.mktemp('colab')
    remote = root / 'student.git'
    subprocess.run(['git', 'clone', '--quiet', '--bare', str(published), str(remote)], check=True)
    fake = root / 'fake_colab'
    (fake / 'google' / 'colab').mkdir(parents=True)
    (fake / 'google' / '__init__.py').write_text('')
    (fake / 'google' / 'colab' / '__init__.py').write_text('')
    (fake / 'google' / 'colab' / 'drive.py').write_text(FAKE_DRIVE_MODULE)
    gitconfig = root / 'gitconfig'
    gitconfig.write_text(f'[url "{remote.as_uri()}"]\n\tinsteadOf = {release.COURSE_REPO}\n')
    drive = root / 'google-drive' / 'MyDrive'   # named as in Colab, where paths resolve to MyDrive/...
    drive.mkdir(parents=True)
    env = {'PYTHONPATH': str(fake), 'GIT_CONFIG_GLOBAL': str(gitconfig), 'GIT_CONFIG_NOSYSTEM': '1',
           'FAKE_GOOGLE_DRIVE': str(drive)}
    return env, drive, remote


def published_cell(published, index):
    return nbformat.read(published / 'nn_from_scratch' / NOTEBOOK, as_version=4).cells[index].source


def run_runtime(content, env, cells, monkeypatch):
    """Execute `cells` (sources) in a fresh kernel whose current folder is
    `content` (Colab's /content) and in which google.colab is imported, as in
    Colab. Returns the executed cells."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    content.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)
                                         for source in ['import google.colab', *cells]])
    NotebookClient(nb, kernel_name='python3', timeout=300, allow_errors=True,
                   resources={'metadata': {'path': str(content)}}).execute()
    return nb.cells[1:]


def stdout(cell):
    assert not [o for o in cell.outputs if o.output_type == 'error'], cell.outputs
    assert not [o for o in cell.outputs if o.get('name') == 'stderr'], cell.outputs
    return ''.join(o.text for o in cell.outputs if o.output_type == 'stream')


# What the simulated student writes: Linear.forward and ReLU.forward, nothing else.
STUDENT_CODE = {
    'raise NotImplementedError("Implement Linear.forward in scratchnn/layers.py")':
        'out = x.reshape(x.shape[0], -1) @ w + b\n        cache = (x, w, b)',
    'raise NotImplementedError("Implement ReLU.forward in scratchnn/layers.py")':
        'out = x.clamp(min=0)\n        cache = x',
}
GRADED = ('linear_forward', 'relu_forward', 'sgd')   # two items she wrote, one she did not
ANSWER = 'My answer, written in the notebook opened from the Colab link.'


def write_layers(layers):
    """The student's work on Drive: two functions of scratchnn/layers.py, and a
    marker that a new runtime must find."""
    text = layers.read_text()
    for stub, code in STUDENT_CODE.items():
        assert stub in text
        text = text.replace(stub, code)
    layers.write_text(text + '\nSTUDENT_EDIT = "kept"\n')


def save_a_copy_in_drive(published, drive, name, answer):
    """Colab's File > Save a copy in Drive of notebook `name` opened from its
    link, after writing `answer` in its answer cells: a new file in MyDrive/Colab
    Notebooks named as Colab names it."""
    nb = nbformat.read(published / 'nn_from_scratch' / name, as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace('YOUR ANSWER HERE', answer)
    nb.metadata['colab'] = {'provenance': []}
    copy = drive / 'Colab Notebooks' / f'Copy of {name}'
    copy.parent.mkdir(exist_ok=True)
    nbformat.write(nb, copy)
    return copy


def publish_a_fix(remote, work, path):
    """The instructor's next publication: a commit to the given file `path` of
    the student repository, pushed to `remote`."""
    subprocess.run(['git', 'clone', '--quiet', remote.as_uri(), str(work)], check=True)
    given = work / path
    given.write_text(given.read_text() + '\n# a fix published later\n')
    identity = ['-c', 'user.name=instructor', '-c', 'user.email=instructor@localhost']
    subprocess.run(['git', '-C', str(work), *identity, 'commit', '--quiet', '-am', 'a fix'], check=True)
    subprocess.run(['git', '-C', str(work), 'push', '--quiet'], check=True)


@pytest.mark.slow
def test_a_colab_student_hands_in_what_she_wrote(published, colab, tmp_path, monkeypatch):
    """The README's Colab path: the setup cell as published copies the course to
    Drive; she writes two functions on Drive and answers in notebooks she saved
    with File > Save a copy in Drive; a new runtime keeps her work and brings a
    fix of a given file; the README's hand-in command packs her modules and her
    saved notebooks; the grader gives her the points of what she wrote."""
    env, drive, remote = colab
    readme = (published / 'README.md').read_text()
    # what test_a_local_install_takes_torchs_cpu_build resolves is what students get
    assert (published / 'requirements.txt').read_text() == publish.requirements_text()
    assert (published / 'constraints.txt').read_text() == publish.constraints_text()
    # the hand-in as the last cell of notebook 5 runs it (the kernel has torch loaded already)
    hand_in = re.search(r'`(self_check\(zip=True\))` in the last cell of notebook 5', readme).group(1)
    for step in ('MyDrive/nn_from_scratch', 'File > Save a copy in Drive', 'MyDrive/Colab Notebooks',
                 '"Copy of ...")', 'never overwritten'):
        assert step in readme, step
    setup, self_check = published_cell(published, 1), published_cell(published, -1)
    assert 'self_check(notebook=1)' in self_check
    where = 'import scratchnn, os; print("package:", os.path.dirname(scratchnn.__file__))'
    cells = run_runtime(tmp_path / 'runtime1', env, [setup, where, self_check], monkeypatch)
    out = stdout(cells[0])
    mounted = str(tmp_path / 'runtime1' / 'drive')
    assert f'Mounted at {mounted}' in out
    assert ('Working in Google Drive, MyDrive/nn_from_scratch (copied from the course just now): '
            'your edits there survive the runtime.') in out
    package = Path(stdout(cells[1]).strip().removeprefix('package: '))
    assert package.resolve() == (drive / 'nn_from_scratch' / 'scratchnn').resolve(), "the Drive copy is used"
    check = stdout(cells[2])
    assert 'linear_forward' in check and 'not implemented yet: Linear.forward in scratchnn/layers.py' in check
    assert 'Traceback' not in check
    # the student's clone and Drive copy hold nothing students may not see
    for folder in (tmp_path / 'runtime1' / 'course', drive / 'nn_from_scratch'):
        assert (folder / 'scratchnn').is_dir() or (folder / 'nn_from_scratch').is_dir()
        assert solution_leaks(folder) == [] and autograder_leaks(folder) == [] and rubric_leaks(folder) == []

    # her work: two functions on Drive, every notebook saved a copy of in Drive
    mine = drive / 'nn_from_scratch'
    write_layers(mine / 'scratchnn' / 'layers.py')
    notebooks = sorted(p.name for p in mine.glob('*.ipynb'))
    for name in notebooks:
        save_a_copy_in_drive(published, drive, name, ANSWER)
    publish_a_fix(remote, tmp_path / 'instructor', 'nn_from_scratch/scratchnn/data.py')

    # a new runtime: a fresh /content and clone, the same Drive; then the hand-in
    edit = 'import scratchnn.layers; print(scratchnn.layers.STUDENT_EDIT)'
    zip_cell = f'from scratchnn.check import self_check\n{hand_in}'
    cells = run_runtime(tmp_path / 'runtime2', env, [setup, edit, zip_cell], monkeypatch)
    assert ('Working in Google Drive, MyDrive/nn_from_scratch (your copy, 1 course files updated): '
            in stdout(cells[0]))
    assert stdout(cells[1]).strip() == 'kept'
    assert (mine / 'scratchnn' / 'data.py').read_text().endswith('# a fix published later\n')
    zipped = stdout(cells[2])
    for name in notebooks:
        assert f'{name}: packed MyDrive/Colab Notebooks/Copy of {name}, your one edited copy' in zipped
    archive = mine / 'submission.zip'
    assert f'Submission written to {archive} (5 modules, 5 notebooks' in zipped
    with zipfile.ZipFile(archive) as z:
        assert z.read('scratchnn/layers.py') == (mine / 'scratchnn' / 'layers.py').read_bytes()
        assert all(ANSWER in z.read(name).decode() for name in notebooks)

    results = tmp_path / 'results.json'
    subprocess.run([sys.executable, '-m', 'autograder', 'grade', str(archive), '--items', ','.join(GRADED),
                    '--json', str(results), '--quiet'], cwd=REPO, check=True, capture_output=True, timeout=300)
    scores = {item: result['score'] for item, result in json.loads(results.read_text())['items'].items()}
    assert scores == {'linear_forward': RUBRIC['linear_forward'].points,
                      'relu_forward': RUBRIC['relu_forward'].points, 'sgd': 0}


@pytest.mark.slow
def test_a_failed_clone_says_why_in_one_line(published, colab, tmp_path, monkeypatch):
    env, *_ = colab
    gitconfig = tmp_path / 'gitconfig'
    gitconfig.write_text(f'[url "{(tmp_path / "missing.git").as_uri()}"]\n\tinsteadOf = {release.COURSE_REPO}\n')
    cells = run_runtime(tmp_path / 'content', {**env, 'GIT_CONFIG_GLOBAL': str(gitconfig)},
                        [published_cell(published, 1)], monkeypatch)
    outputs = cells[0].outputs
    assert [o.output_type for o in outputs] == ['error'], outputs
    assert outputs[0].ename == 'SetupFailed'
    assert len(outputs[0].traceback) == 1, "one line, no traceback"
    line = outputs[0].traceback[0]
    assert line.startswith(f'Setup failed: could not clone {release.COURSE_REPO}: ')
    assert 'missing.git' in line and '\n' not in line
    assert not (tmp_path / 'content' / 'course').exists()



# ------------------------------------------------------------ installing locally

def stand_in_wheel(index, name, version):
    """Put a wheel of `name` at `version` (metadata only, no dependencies) into
    the simple index folder `index`, as a package index serves it."""
    project = canonicalize_name(name)
    dist = f"{project.replace('-', '_')}-{version}"
    folder = index / project
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / f'{dist}-py3-none-any.whl', 'w') as wheel:
        wheel.writestr(f'{dist}.dist-info/METADATA', f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n')
        wheel.writestr(f'{dist}.dist-info/WHEEL', 'Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n')
        wheel.writestr(f'{dist}.dist-info/RECORD', '')
    links = ''.join(f'<a href="{w.name}">{w.name}</a>\n' for w in sorted(folder.glob('*.whl')))
    (folder / 'index.html').write_text(f'<!DOCTYPE html><html><body>\n{links}</body></html>\n')


def readme_install_command():
    """The students' local install command, as their README says it."""
    commands = re.findall(r'`(pip install [^`]*)`', STUDENTS_README.read_text())
    assert len(set(commands)) == 1, commands
    return shlex.split(commands[0])


def resolve(folder, pypi, command):
    """{project: (version, where from)} that `command` (a pip install) run in
    folder would install, resolved by pip --dry-run with `pypi` standing in for
    PyPI and none of this machine's pip configuration (its local wheels)."""
    report = folder / 'report.json'
    env = {name: value for name, value in os.environ.items() if not name.startswith('PIP_')}
    env['PIP_CONFIG_FILE'] = os.devnull
    subprocess.run([sys.executable, '-m', *command, '--dry-run', '--ignore-installed', '--quiet',
                    '--report', str(report), '--index-url', pypi.as_uri()],
                   cwd=folder, env=env, check=True, capture_output=True, timeout=120)
    return {item['metadata']['name']: (item['metadata']['version'], item['download_info']['url'])
            for item in json.loads(report.read_text())['install']}


def test_a_local_install_takes_torchs_cpu_build(tmp_path):
    """The README's install command, on the student repository's requirements
    and constraints, resolves torch to its CPU build at the grader's pin.

    What it proves: pip, offered 2.13.0 by the default index (on Linux the CUDA
    build) and 2.13.0+cpu by the index the requirements add, takes the +cpu
    build (a local version sorts above its public one and satisfies ==2.13.0),
    and without that line it would not. Both indexes are local stand-ins (no
    network here): the real index of CPU builds, the one Gradescope's image uses
    (TORCH_CPU_INDEX), is replaced by a folder, so whether it serves a wheel
    for the student's platform is not tested, and nothing is downloaded."""
    requirements, constraints = publish.requirements_text(), publish.constraints_text()
    assert f'\n--extra-index-url {TORCH_CPU_INDEX}\n' in requirements
    assert publish.requirement_names(constraints) == {'torch'}, "students get no instructor pins"
    pin = next(line for line in (REPO / 'constraints.txt').read_text().splitlines() if line.startswith('torch=='))
    assert pin in constraints.splitlines()
    version = pin.removeprefix('torch==')
    pypi, cpu_index = tmp_path / 'pypi', tmp_path / 'cpu-index'
    for name in publish.requirement_names(requirements) - {'torch'}:
        stand_in_wheel(pypi, name, '1.0')
    for newer in (version, '99.0'):
        stand_in_wheel(pypi, 'torch', newer)
    stand_in_wheel(cpu_index, 'torch', f'{version}+cpu')
    student = tmp_path / 'student'
    student.mkdir()
    (student / 'constraints.txt').write_text(constraints)
    (student / 'requirements.txt').write_text(requirements.replace(TORCH_CPU_INDEX, cpu_index.as_uri()))
    command = readme_install_command()
    assert command == ['pip', 'install', '-r', 'requirements.txt', '-c', 'constraints.txt']
    installs = resolve(student, pypi, command)
    assert installs['torch'] == (f'{version}+cpu', (cpu_index / 'torch' / f'torch-{version}+cpu-py3-none-any.whl').as_uri())
    assert set(installs) == publish.requirement_names(requirements)
    # the index line is what selects it
    (student / 'requirements.txt').write_text(requirements.replace(f'--extra-index-url {TORCH_CPU_INDEX}\n', ''))
    assert resolve(student, pypi, command)['torch'][0] == version
