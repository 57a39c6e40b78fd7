"""scratchnn.colab, the setup cell's helper in Google Colab, with a fake
`google.colab` whose drive.mount links a temporary folder in: the assignment
folder is copied to Drive once, never over the student's files, and becomes
the working folder; without Drive the clone is, and the cell says so."""
import os
import shutil
import subprocess
import sys
import types
import zipfile

import pytest

from conftest import RELEASE
from scratchnn import colab


@pytest.fixture
def content(tmp_path, monkeypatch):
    """A Colab runtime's /content, holding the setup cell's clone of the course;
    the current folder, sys.path and the imported scratchnn are restored afterwards."""
    folder = tmp_path / 'content'
    shutil.copytree(RELEASE, folder / colab.CLONE, ignore=shutil.ignore_patterns('__pycache__'))
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, 'path', list(sys.path))
    imported = {name: module for name, module in sys.modules.items() if name.split('.')[0] == 'scratchnn'}
    yield folder
    for name in [name for name in sys.modules if name.split('.')[0] == 'scratchnn']:
        del sys.modules[name]
    sys.modules.update(imported)


@pytest.fixture
def drive(tmp_path, monkeypatch):
    """A fake google.colab whose drive.mount(mountpoint) links mountpoint/MyDrive
    to a folder that outlives the runtime; the list of mounts it was asked for."""
    my_drive = tmp_path / 'google-drive' / 'MyDrive'   # named as in Colab, where paths resolve to MyDrive/...
    my_drive.mkdir(parents=True)
    mounts = []

    def mount(mountpoint, **kwargs):
        mounts.append(mountpoint)
        os.makedirs(mountpoint, exist_ok=True)
        if not os.path.exists(os.path.join(mountpoint, 'MyDrive')):
            os.symlink(my_drive, os.path.join(mountpoint, 'MyDrive'))

    google = types.ModuleType('google')
    google.colab = types.ModuleType('google.colab')
    google.colab.drive = types.SimpleNamespace(mount=mount)
    monkeypatch.setitem(sys.modules, 'google', google)
    monkeypatch.setitem(sys.modules, 'google.colab', google.colab)
    return my_drive, mounts


def test_first_run_copies_the_assignment_to_drive(content, drive, capsys):
    my_drive, mounts = drive
    folder = colab.setup(keep_on_drive=True)
    assert mounts == [str(content / 'drive')]
    assert folder == content / 'drive' / 'MyDrive' / 'nn_from_scratch'
    assert (my_drive / 'nn_from_scratch' / 'scratchnn' / 'layers.py').read_bytes() == \
        (RELEASE / 'scratchnn' / 'layers.py').read_bytes()
    assert os.getcwd() == str(folder.resolve()) and sys.path[0] == str(folder)
    assert str(content / colab.CLONE) not in sys.path
    assert 'scratchnn' not in sys.modules, "the clone's scratchnn is forgotten"
    out = capsys.readouterr()
    assert out.err == ''
    assert out.out.splitlines() == ['Working in Google Drive, MyDrive/nn_from_scratch (copied from the '
                                    'course just now): your edits there survive the runtime.']


def test_the_students_files_on_drive_are_never_overwritten(content, drive, capsys):
    my_drive, _ = drive
    mine = my_drive / 'nn_from_scratch' / 'scratchnn' / 'layers.py'
    mine.parent.mkdir(parents=True)
    mine.write_text('# my work\n')
    colab.setup(keep_on_drive=True)
    assert mine.read_text() == '# my work\n'
    assert (my_drive / 'nn_from_scratch' / 'scratchnn' / 'optim.py').is_file(), "missing files are added"
    line = capsys.readouterr().out.strip()
    assert line.startswith('Working in Google Drive, MyDrive/nn_from_scratch (your copy, ')
    assert 'new course files added' in line
    colab.setup(keep_on_drive=True)
    assert '(your copy)' in capsys.readouterr().out


def test_without_drive_the_clone_is_the_working_folder(content, drive, capsys):
    _, mounts = drive
    folder = colab.setup(keep_on_drive=False)
    assert mounts == [] and folder == content / colab.CLONE and os.getcwd() == str(folder)
    assert capsys.readouterr().out.strip() == (f'Working in {folder} (KEEP_ON_DRIVE = False): '
                                               'edits there are lost when the runtime stops.')


def test_a_drive_that_will_not_mount_falls_back_to_the_clone(content, monkeypatch, capsys):
    google = types.ModuleType('google')
    google.colab = types.ModuleType('google.colab')

    def refuse(mountpoint, **kwargs):
        raise ValueError('mount failed')
    google.colab.drive = types.SimpleNamespace(mount=refuse)
    monkeypatch.setitem(sys.modules, 'google', google)
    monkeypatch.setitem(sys.modules, 'google.colab', google.colab)
    folder = colab.setup(keep_on_drive=True)
    assert folder == content / colab.CLONE
    out = capsys.readouterr()
    assert out.err == '' and len(out.out.splitlines()) == 1
    assert 'Google Drive did not mount: ValueError: mount failed' in out.out
    assert 'edits there are lost when the runtime stops' in out.out


def test_a_later_setup_brings_the_courses_fixes_but_never_over_your_work(content, drive, capsys):
    my_drive, _ = drive
    colab.setup(keep_on_drive=True)
    mine = my_drive / 'nn_from_scratch'
    clone = content / colab.CLONE
    (mine / 'scratchnn' / 'layers.py').write_text('# my layers\n')      # a module you wrote
    (mine / 'scratchnn' / 'solver.py').write_text('# my solver\n')      # a given file you changed
    # the next runtime clones a course with fixes to given files and to a stub
    for given in ('scratchnn/data.py', 'scratchnn/solver.py', 'scratchnn/layers.py', 'scratchnn/optim.py',
                  '02_weight_initialization.ipynb'):
        (clone / given).write_text((clone / given).read_text() + '\n# fixed\n')
    (clone / 'scratchnn' / 'new_helper.py').write_text('# new\n')
    capsys.readouterr()
    os.chdir(content)
    colab.setup(keep_on_drive=True)
    assert (mine / 'scratchnn' / 'data.py').read_bytes() == (clone / 'scratchnn' / 'data.py').read_bytes()
    assert (mine / '02_weight_initialization.ipynb').read_text().endswith('# fixed\n')
    assert (mine / 'scratchnn' / 'new_helper.py').is_file()
    assert (mine / 'scratchnn' / 'layers.py').read_text() == '# my layers\n'
    assert (mine / 'scratchnn' / 'solver.py').read_text() == '# my solver\n'
    assert not (mine / 'scratchnn' / 'optim.py').read_text().endswith('# fixed\n'), \
        "your modules are never overwritten, even unchanged"
    assert capsys.readouterr().out.strip() == (
        'Working in Google Drive, MyDrive/nn_from_scratch (your copy, 1 new course files added, '
        '2 course files updated): your edits there survive the runtime.')


def test_a_drive_copy_without_a_record_keeps_every_file_that_differs(content, drive):
    """A copy made before the record existed: files equal to the course's are
    recorded as the course's, any other may be the student's and is kept."""
    my_drive, _ = drive
    mine = my_drive / 'nn_from_scratch'
    shutil.copytree(content / colab.CLONE, mine)
    (mine / 'scratchnn' / 'gradcheck.py').write_text('# mine, or an old release: kept\n')
    colab.setup(keep_on_drive=True)
    record = colab.read_record(mine)
    assert (mine / 'scratchnn' / 'gradcheck.py').read_text() == '# mine, or an old release: kept\n'
    assert 'scratchnn/gradcheck.py' not in record
    assert record['scratchnn/data.py'] == colab.sha256(mine / 'scratchnn' / 'data.py')


# ------------------------------------------------------------ the hand-in zip in Colab

def saved(path, answer):
    """Save a copy of a notebook as Colab does, with an answer written in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(path.read_text().replace('YOUR ANSWER HERE', answer) if path.is_file() else
                    (RELEASE / colab.copy_of(path.name)).read_text().replace('YOUR ANSWER HERE', answer))


def test_the_zip_takes_the_notebooks_you_edited_or_says_where_they_are(content, drive, capsys):
    my_drive, _ = drive
    folder = colab.setup(keep_on_drive=True)
    from scratchnn.check import hand_in, main   # the Drive copy's, as in Colab
    names = sorted(p.name for p in RELEASE.glob('*.ipynb'))
    saved_copies = my_drive / colab.COLAB_NOTEBOOKS
    saved(saved_copies / f'Copy of {names[0]}', 'opened from the link, saved a copy')
    saved(folder / names[1], 'opened from MyDrive/nn_from_scratch')
    capsys.readouterr()
    assert not hand_in(folder) and not (folder / 'submission.zip').exists()
    refusal = capsys.readouterr().out.splitlines()
    assert main(['--zip', '--notebook', '9']) == 1, "python -m scratchnn.check --zip fails then"
    assert capsys.readouterr().out.splitlines()[-1] == refusal[0]
    assert refusal == [
        f"No zip written: {', '.join(names[2:])} are as the course gave them in MyDrive/nn_from_scratch, "
        "and MyDrive/Colab Notebooks has no edited copy: save your work (in Colab: File > Save a copy "
        "in Drive), then run this again."]
    # saved twice: the last saved counts
    saved(saved_copies / names[2], 'an early copy')
    os.utime(saved_copies / names[2], (1, 1))
    second = f'Copy of {names[2].removesuffix(".ipynb")} (1).ipynb'
    saved(saved_copies / second, 'the final answer')
    for name in names[3:]:
        saved(saved_copies / f'Copy of {name}', 'done')
    assert hand_in(folder)
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        f'{names[0]}: packed MyDrive/Colab Notebooks/Copy of {names[0]}, your one edited copy',
        f'{names[2]}: packed MyDrive/Colab Notebooks/{second}, the last saved of your '
        '2 edited copies',
        f'{names[3]}: packed MyDrive/Colab Notebooks/Copy of {names[3]}, your one edited copy']
    with zipfile.ZipFile(folder / 'submission.zip') as archive:
        assert sorted(n for n in archive.namelist() if n.endswith('.ipynb')) == names
        assert 'saved a copy' in archive.read(names[0]).decode()
        assert 'opened from MyDrive' in archive.read(names[1]).decode()
        assert 'the final answer' in archive.read(names[2]).decode()


def test_a_copy_made_before_records_takes_fixes_to_what_the_course_once_published(content, drive, tmp_path):
    """A Drive copy made by an older setup, without a record: a file equal to a
    version the course once published (in the history of the setup cell's
    shallow clone, fetched whole) takes the fix; any other file is kept."""
    my_drive, _ = drive
    origin = tmp_path / 'student-repository'
    shutil.copytree(content / 'course', origin)

    def git(*args):
        subprocess.run(['git', '-C', str(origin), '-c', 'user.name=t', '-c', 'user.email=t@localhost', *args],
                       check=True, capture_output=True)
    git('init', '--quiet')
    git('add', '--all')
    git('commit', '--quiet', '-m', 'the course as first published')
    mine = my_drive / 'nn_from_scratch'
    shutil.copytree(origin / 'nn_from_scratch', mine)      # by the older setup: no record
    (mine / 'scratchnn' / 'solver.py').write_text('# mine\n')
    for given in ('scratchnn/check.py', 'scratchnn/solver.py'):
        path = origin / 'nn_from_scratch' / given
        path.write_text(path.read_text() + '# fixed\n')
    git('commit', '--quiet', '-am', 'fixes')
    shutil.rmtree(content / 'course')
    subprocess.run(['git', 'clone', '--quiet', '--depth=1', origin.as_uri(), str(content / 'course')], check=True)
    colab.setup(keep_on_drive=True)
    assert (mine / 'scratchnn' / 'check.py').read_text().endswith('# fixed\n')
    assert (mine / 'scratchnn' / 'solver.py').read_text() == '# mine\n'
