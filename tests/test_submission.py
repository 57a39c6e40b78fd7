"""A submission is data (autograder/isolation/submission.py): modules are found in every
layout students hand in, and nothing in a folder or a zip makes the grader
follow a link, open a device or a FIFO, or read a file shared by a hard link."""
import os
import stat
import zipfile

import pytest

from autograder.isolation.submission import MAX_MODULE_BYTES, SubmissionError, read_folder, read_zip, read_submission

MODULES = ['layers', 'optim']


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_modules_are_found_in_every_layout(tmp_path):
    write(tmp_path / 'plain' / 'scratchnn' / 'layers.py', 'L = 1\n')
    write(tmp_path / 'nbgrader' / 'nn_from_scratch' / 'scratchnn' / 'layers.py', 'L = 2\n')
    write(tmp_path / 'loose' / 'layers.py', 'L = 3\n')
    for name, want in (('plain', b'L = 1\n'), ('nbgrader', b'L = 2\n'), ('loose', b'L = 3\n')):
        sub = read_folder(tmp_path / name, MODULES)
        assert sub.sources == {'layers': want}
        assert sub.problem('optim') == 'scratchnn/optim.py is missing from the submission'
        assert not sub.empty
    assert read_folder(write(tmp_path / 'none' / 'notes.txt', '').parent, MODULES).empty


def test_the_package_wins_over_loose_copies_and_two_packages_are_refused(tmp_path):
    write(tmp_path / 'a' / 'layers.py', 'scratch\n')
    write(tmp_path / 'a' / 'scratchnn' / 'layers.py', 'real\n')
    assert read_folder(tmp_path / 'a', MODULES).sources == {'layers': b'real\n'}
    write(tmp_path / 'b' / 'x' / 'scratchnn' / 'layers.py', 'one\n')
    write(tmp_path / 'b' / 'y' / 'scratchnn' / 'layers.py', 'two\n')
    sub = read_folder(tmp_path / 'b', MODULES)
    assert 'layers' not in sub.sources and '2 copies of layers.py' in sub.problem('layers')


def test_links_devices_and_fifos_are_refused_and_cost_only_their_module(tmp_path):
    secret = write(tmp_path / 'course' / 'solution.py', 'SOLUTION = True\n')
    package = tmp_path / 'sub' / 'scratchnn'
    write(package / 'optim.py', 'honest = 1\n')
    os.symlink(secret, package / 'layers.py')
    sub = read_folder(tmp_path / 'sub', MODULES)
    assert sub.sources == {'optim': b'honest = 1\n'}
    assert sub.problem('layers') == 'scratchnn/layers.py is a symbolic link; submit the file itself'

    os.unlink(package / 'layers.py')
    os.link(secret, package / 'layers.py')
    assert 'is a hard link' in read_folder(tmp_path / 'sub', MODULES).problem('layers')

    os.unlink(package / 'layers.py')
    os.mkfifo(package / 'layers.py')   # a FIFO would block a reader forever
    assert 'not a regular file' in read_folder(tmp_path / 'sub', MODULES).problem('layers')
    assert secret.read_text() == 'SOLUTION = True\n'


def test_a_linked_package_folder_is_refused(tmp_path):
    write(tmp_path / 'other' / 'scratchnn' / 'layers.py', 'someone else\n')
    (tmp_path / 'sub').mkdir()
    os.symlink(tmp_path / 'other' / 'scratchnn', tmp_path / 'sub' / 'scratchnn')
    sub = read_folder(tmp_path / 'sub', MODULES)
    assert sub.sources == {}   # a linked folder is not walked into: nothing is read


def test_an_oversized_module_is_refused(tmp_path):
    write(tmp_path / 'scratchnn' / 'layers.py', 'x' * (MAX_MODULE_BYTES + 1))
    assert 'bytes' in read_folder(tmp_path, MODULES).problem('layers')


def make_zip(path, members):
    """members: [(name, data, unix mode)]."""
    with zipfile.ZipFile(path, 'w') as z:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            z.writestr(info, data)
    return path


def test_zips_are_read_in_memory_and_their_links_refused(tmp_path):
    archive = make_zip(tmp_path / 'sub.zip', [
        ('nn_from_scratch/scratchnn/optim.py', 'honest = 1\n', stat.S_IFREG | 0o644),
        ('nn_from_scratch/scratchnn/layers.py', '/srv/course/solutions/layers.py', stat.S_IFLNK | 0o777),
        ('__MACOSX/nn_from_scratch/scratchnn/._optim.py', 'junk', stat.S_IFREG | 0o644),
        ('../../etc/cron.d/evil', 'x', stat.S_IFREG | 0o644),
    ])
    sub = read_zip(archive, MODULES)
    assert sub.sources == {'optim': b'honest = 1\n'}
    assert sub.problem('layers').endswith('is a symbolic link; submit the file itself')
    assert any('unsafe paths' in note for note in sub.notes)
    assert read_submission(archive, MODULES).sources == sub.sources
    assert not (tmp_path.parent / 'etc').exists()


def test_a_zip_without_unix_modes_is_plain_files(tmp_path):
    archive = make_zip(tmp_path / 'win.zip', [('scratchnn\\layers.py', 'L = 1\n', 0)])
    assert read_zip(archive, MODULES).sources == {'layers': b'L = 1\n'}


def test_what_cannot_be_read_at_all_is_a_clear_error(tmp_path):
    with pytest.raises(SubmissionError, match='does not exist'):
        read_folder(tmp_path / 'nowhere', MODULES)
    with pytest.raises(SubmissionError, match='not a valid zip'):
        read_zip(write(tmp_path / 'bad.zip', 'not a zip'), MODULES)
    with pytest.raises(SubmissionError, match='not a folder'):
        read_folder(write(tmp_path / 'file.txt', ''), MODULES)


@pytest.mark.parametrize('source, why', [
    (b"# -*- coding: utf-7 -*-\ndef f(x):\n    return x\n+AAo-import torch.nn\n", "declares the encoding 'utf-7'"),
    (b"# coding: latin-1\nname = '\xe9'\n", "declares the encoding 'iso-8859-1'"),
    (b"name = '\xe9'\n", "is not valid UTF-8"),
])
def test_a_module_that_is_not_utf8_is_refused_in_folders_and_zips(tmp_path, source, why):
    """A coding cookie can hide code from anything reading the text as UTF-8
    (the rule check included): only UTF-8 modules are graded."""
    (tmp_path / 'f' / 'scratchnn').mkdir(parents=True)
    (tmp_path / 'f' / 'scratchnn' / 'layers.py').write_bytes(source)
    (tmp_path / 'f' / 'scratchnn' / 'optim.py').write_bytes(b"# -*- coding: utf-8 -*-\nX = '\xc3\xa9'\n")
    with zipfile.ZipFile(tmp_path / 'z.zip', 'w') as z:
        z.writestr('scratchnn/layers.py', source)
    for sub in (read_folder(tmp_path / 'f', MODULES), read_zip(tmp_path / 'z.zip', MODULES)):
        assert 'layers' not in sub.sources
        assert why in sub.problem('layers') and 'UTF-8' in sub.problem('layers')
    assert 'optim' in read_folder(tmp_path / 'f', MODULES).sources   # UTF-8 declared: fine


def test_nbgrader_autograde_gets_no_copy_of_a_linked_module(tmp_path):
    """nbgrader's autograde copies submitted/ to autograded/ following links; the
    plugin puts back what submitted/ really holds, read without following them."""
    from traitlets.config import Config
    from autograder.integrations.nbgrader_plugin import mirror_submitted_modules, submitted_folder
    solution = write(tmp_path / 'solutions' / 'layers.py', 'SOLUTION = 1\n')
    submitted = tmp_path / 'course' / 'submitted' / 'ann' / 'hw'
    write(submitted / 'scratchnn' / 'optim.py', 'MINE = 1\n')
    (submitted / 'scratchnn' / 'layers.py').symlink_to(solution)
    autograded = tmp_path / 'course' / 'autograded' / 'ann' / 'hw'
    write(autograded / 'scratchnn' / 'layers.py', 'SOLUTION = 1\n')    # what shutil.copy made
    write(autograded / 'scratchnn' / 'optim.py', 'MINE = 1\n')
    config = Config()
    config.CourseDirectory.root = str(tmp_path / 'course')
    found = submitted_folder(config, {'nbgrader': {'student': 'ann', 'assignment': 'hw'}})
    assert found == submitted
    refused = mirror_submitted_modules(found, autograded, MODULES)
    assert refused == {'layers': 'scratchnn/layers.py is a symbolic link; submit the file itself'}
    layers = (autograded / 'scratchnn' / 'layers.py').read_text()
    assert 'SOLUTION' not in layers and layers.startswith('raise ImportError(')
    assert (autograded / 'scratchnn' / 'optim.py').read_text() == 'MINE = 1\n'


# ------------------------------------------------------------ zips refused whole (issue 20)

GOOD = (b'scratchnn/layers.py', b'L = 1\n', 0)


def zip_of(path, members):
    """A zip written byte by byte (tests/hostile_text.py): names exactly as given."""
    from hostile_text import raw_zip
    path.write_bytes(raw_zip(members))
    return path


def refusal(path):
    """The one-line reason read_zip refuses path with."""
    with pytest.raises(SubmissionError) as refused:
        read_zip(path, MODULES)
    reason = str(refused.value)
    assert reason.isprintable() and path.name in reason and len(reason) <= 1000
    return reason


@pytest.fixture
def zipfile_never_parses(monkeypatch):
    """Fails the test if zipfile's constructor (which parses the whole central directory) runs."""
    def parse(*args, **kwargs):
        raise AssertionError("zipfile parsed a central directory that should have been refused unread")
    monkeypatch.setattr(zipfile.ZipFile, '_RealGetContents', parse)


def test_a_zip_listing_more_members_than_allowed_is_refused_before_parsing(tmp_path, zipfile_never_parses):
    from autograder.isolation.submission import MAX_ENTRIES
    many = [(f'{i:05}'.encode(), b'', 0) for i in range(MAX_ENTRIES + 1)] + [GOOD]
    assert f'lists {MAX_ENTRIES + 2} members' in refusal(zip_of(tmp_path / 'many.zip', many))


def test_a_zip_whose_directory_is_too_large_is_refused_before_parsing(tmp_path, zipfile_never_parses):
    from autograder.isolation.submission import MAX_ZIP_DIRECTORY
    # few members with long names: the directory's size is capped, not only its count
    long_names = [(str(i).encode() * (60_000 // len(str(i))), b'', 0) for i in range(1, 80)]
    archive = zip_of(tmp_path / 'long.zip', long_names + [GOOD])
    assert archive.stat().st_size > MAX_ZIP_DIRECTORY
    assert 'members in a directory of' in refusal(archive)


def test_zip64_end_records_announcing_millions_are_refused_before_parsing(tmp_path, zipfile_never_parses):
    from hostile_text import zip64_claiming
    (tmp_path / 'z64.zip').write_bytes(zip64_claiming(5_000_000, 300 << 20))
    assert 'lists 5000000 members' in refusal(tmp_path / 'z64.zip')


@pytest.mark.parametrize('name, flags, why', [
    (b'scratchnn/\xff\xfe.py', 0x800, 'marked UTF-8 but is not'),     # zipfile raised UnicodeDecodeError
    (b'scratchnn/\xed\xa0\x80.py', 0x800, 'marked UTF-8 but is not'),  # an encoded surrogate
    (b'scratchnn/\x1b[2J.py', 0, 'control character'),
    (b'scratchnn/layers.py\x00.txt', 0, 'control character'),       # zipfile cuts the name at NUL
    (b'Icon\r', 0, 'control character'),
    (b'scratchnn/\xe2\x80\xaeyp.sreyal', 0x800, 'control character'),   # a right-to-left override
])
def test_a_zip_member_name_that_is_not_clean_utf8_is_refused(tmp_path, name, flags, why):
    archive = zip_of(tmp_path / 'odd.zip', [GOOD, (name, b'x = 1\n', flags)])
    assert why in refusal(archive)


@pytest.mark.parametrize('first, second', [
    (b'scratchnn/layers.py', b'scratchnn/layers.py'),
    (b'scratchnn/layers.py', b'scratchnn/./layers.py'),
    (b'scratchnn/layers.py', b'scratchnn//layers.py'),
    (b'scratchnn/layers.py', b'scratchnn\\layers.py'),
    (b'scratchnn/layers.py', b'Scratchnn/LAYERS.py'),
    ('nn/caf\u00e9/x.py'.encode(), 'nn/cafe\u0301/x.py'.encode()),       # NFC and NFD
    (b'scratchnn', b'scratchnn/'),                                     # a file and a folder
    (b'x' * 60_000, b'X' * 60_000),                                    # long: the reason is cut
])
def test_two_zip_members_with_one_name_are_refused(tmp_path, first, second):
    """Which of the two a tool extracts (or zipfile reads) is a silent choice:
    no grade rests on it."""
    archive = zip_of(tmp_path / 'two.zip', [(first, b'A = 1\n', 0x800), (second, b'B = 2\n', 0x800)])
    assert 'two members with one name' in refusal(archive)


def test_a_folder_entry_with_an_odd_name_is_ignored_with_a_note(tmp_path):
    package = tmp_path / 'f' / 'scratchnn'
    package.mkdir(parents=True)
    (package / 'layers.py').write_text('L = 1\n')
    os.mkdir(os.path.join(os.fsencode(package), b'\xff\x1b[2J'))
    sub = read_folder(tmp_path / 'f', MODULES)
    assert sub.sources == {'layers': b'L = 1\n'}
    assert any('\\udcff\\x1b[2J' in note and 'ignored' in note for note in sub.notes)
    assert all(note.isprintable() for note in sub.notes)
