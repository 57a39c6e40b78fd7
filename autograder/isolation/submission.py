"""A submission is data: the student's modules, read without following a link.

    sub = read_folder('submitted/ada/nn_from_scratch', ['layers', 'optim'])
    sub = read_zip('ada.zip', ['layers', 'optim'])
    sub.sources['layers']      # the bytes of scratchnn/layers.py
    sub.problems['optim']      # why optim.py was refused or is missing

Nothing here follows a symbolic link, opens a device or a FIFO, or reads a
file shared through a hard link: a submission (a folder, a zip) is made by
the student, and a link in it could make the grader read the course's
solutions or another student's work as this student's own. Such a module is
refused with a message for the student and costs only that module's items;
the other modules are graded as usual.

Where the modules are: in `scratchnn/` at the top of the submission or
below it (`nn_from_scratch/scratchnn/` from nbgrader, a folder the zip
wraps everything in), or the modules themselves at the top (an upload of
the five files). Two candidates for one module is an error for that module,
never a silent choice.

A module must be UTF-8, Python's default: a coding line naming another
encoding (`# -*- coding: utf-7 -*-` hides code from anything reading the
text as UTF-8, the rule check included) or bytes that are not UTF-8 get the
module refused.

Names are data too (autograder/text.py). A zip is refused as a whole, with
a one-line reason, when its end records announce more than MAX_ENTRIES
members or a central directory over MAX_ZIP_DIRECTORY bytes (checked before
zipfile parses the directory: its constructor reads all of it), when a
member's name is not valid UTF-8 or holds a character outside text.py's
allow-list (a control character, a NUL that zipfile would cut the name at),
or when two members have one name once compared as an extracting file
system may (see _same_name_key): which one a tool extracts is a silent
choice. In a folder, an entry whose name is outside the allow-list (not
UTF-8, a control character) can be no module; it is ignored, with a note.
"""
import io
import os
import stat
import struct
import tokenize
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .. import text

PACKAGE = 'scratchnn'
MAX_MODULE_BYTES = 1 << 20     # a module of a megabyte is not hand-written code
MAX_DEPTH = 3                  # how deep below the submission scratchnn/ may sit
MAX_ENTRIES = 20_000           # folder entries looked at, at most; a zip listing more is refused
MAX_ZIP_BYTES = 512 << 20      # a zip larger than this is refused unread
MAX_ZIP_DIRECTORY = 4 << 20    # bytes of a zip's central directory (MAX_ENTRIES long names)
SKIPPED_DIRS = {'__MACOSX', '__pycache__', '.ipynb_checkpoints', '.git'}


class SubmissionError(Exception):
    """The submission as a whole cannot be read (not a folder, not a zip, too
    big, ambiguous). str(e) is one clean line (text.line): it names the
    student's files."""

    def __init__(self, reason):
        super().__init__(text.line(reason, text.REASON_CHARS))


@dataclass
class Submission:
    """The student modules of one submission.

    sources: {module name: source bytes} of every module read.
    problems: {module name: message for the student} of every module found
        but refused (a link, two copies, too big); a module in neither is missing.
    notes: remarks on the submission as a whole (files ignored, ...).
    """
    sources: dict = field(default_factory=dict)
    problems: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def source(self, module):
        """The module's source bytes, or None when it was not read."""
        return self.sources.get(module)

    def problem(self, module):
        """Why the module was not read (None when it was), for the student."""
        if module in self.sources:
            return None
        return self.problems.get(module, f"{PACKAGE}/{module}.py is missing from the submission")

    @property
    def empty(self):
        """True when no student module was found at all."""
        return not self.sources and not self.problems


# ---------------------------------------------------------------- where the modules are

def _candidates(paths, modules):
    """{module: [relative path, ...]} of the places each module may be, from
    every relative path (a PurePosixPath) the submission holds."""
    found = {m: [] for m in modules}
    for path in paths:
        stem, parent = path.stem, path.parent
        if path.suffix != '.py' or stem not in found:
            continue
        in_package = parent.name == PACKAGE and len(parent.parts) <= MAX_DEPTH
        at_top = parent == PurePosixPath('.')
        if in_package or at_top:
            found[stem].append(path)
    return found


def _choose(found, modules):
    """(chosen {module: path}, problems {module: message}). Copies inside a
    scratchnn/ folder win over loose copies at the top (a student's scratch
    files beside the package); two copies of the same standing are an error."""
    chosen, problems = {}, {}
    for module in modules:
        places = found.get(module, [])
        in_package = [p for p in places if p.parent.name == PACKAGE]
        places = sorted(in_package or places, key=str)
        if len(places) > 1:
            listed = ', '.join(str(p) for p in places[:3])
            problems[module] = (f"the submission holds {len(places)} copies of {module}.py "
                                f"({listed}); submit exactly one")
        elif places:
            chosen[module] = places[0]
    return chosen, problems


# ---------------------------------------------------------------- folders

def _walk(root_fd, limit):
    """(relative paths of regular-looking entries, notes), walking from the
    open directory root_fd without following any link, at most MAX_DEPTH+1 deep.
    Entries with names outside the allow-list, or that cannot be read, can be
    no module: they are left out, and the notes say so."""
    paths, notes, odd, unreadable, seen = [], [], [], [], 0
    stack = [(PurePosixPath('.'), os.dup(root_fd))]
    try:
        while stack and seen <= limit:
            rel, fd = stack.pop()
            try:
                for name in sorted(os.listdir(fd)):
                    seen += 1
                    if seen > limit:
                        notes.append(f"the submission has more than {limit} files; only the "
                                     f"first {limit} were looked at")
                        break
                    child = rel / name
                    if not text.is_line(name):
                        odd.append(child)
                        continue
                    try:
                        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                        if not stat.S_ISDIR(st.st_mode):
                            paths.append(child)
                        elif name not in SKIPPED_DIRS and len(child.parts) <= MAX_DEPTH:
                            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                            stack.append((child, os.open(name, flags, dir_fd=fd)))
                    except OSError:          # gone meanwhile, or no permission
                        unreadable.append(child)
            except OSError:
                unreadable.append(rel)
            finally:
                os.close(fd)
    finally:
        for _, fd in stack:                  # left when the limit stopped the walk
            os.close(fd)
    return paths, (notes + _left_out(odd, "with names that are not valid UTF-8 or hold control "
                                          "characters")
                   + _left_out(unreadable, "that could not be read"))


def _left_out(paths, why):
    """The note on the entries left out for one reason, or none."""
    if not paths:
        return []
    listed = ', '.join(map(str, paths[:3]))
    return [text.line(f"{len(paths)} file(s) {why} were ignored ({listed})")]


def _open_below(root_fd, path):
    """A file descriptor of root/path, opened without following a link at
    any step, or raises _Refused saying what is wrong."""
    fd = os.dup(root_fd)
    try:
        for part in path.parts[:-1]:
            try:
                nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:
                raise _Refused(f"{part}/ (holding {path.name}) is a symbolic link or not a "
                               f"folder; submit the folder itself") from None
            os.close(fd)
            fd = nxt
        st = os.stat(path.name, dir_fd=fd, follow_symlinks=False)
        _check_regular(st, path)
        # O_NONBLOCK: opening a FIFO that appeared since the stat never blocks.
        return os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    finally:
        os.close(fd)


class _Refused(Exception):
    pass


def _check_regular(st, path):
    """Raise _Refused unless st is a plain file of a sane size, not shared by a hard link."""
    name = str(path)
    if stat.S_ISLNK(st.st_mode):
        raise _Refused(f"{name} is a symbolic link; submit the file itself")
    if not stat.S_ISREG(st.st_mode):
        raise _Refused(f"{name} is not a regular file (a device, pipe or socket); "
                       f"submit the file itself")
    if st.st_nlink > 1:
        raise _Refused(f"{name} is a hard link to another file; submit the file itself")
    if st.st_size > MAX_MODULE_BYTES:
        raise _Refused(f"{name} is {st.st_size} bytes, more than the {MAX_MODULE_BYTES} "
                       f"a module may have")


def _check_source(data, path):
    """Raise _Refused unless data is a UTF-8 module without another declared encoding."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as e:
        raise _Refused(f"{str(path)} is not valid UTF-8 or has an invalid coding line ({e}); "
                       f"save it as UTF-8 without one") from None
    if encoding not in ('utf-8', 'utf-8-sig'):
        raise _Refused(f"{str(path)} declares the encoding {encoding!r}; save it as UTF-8 "
                       f"without a coding line")
    try:
        data.decode(encoding)
    except UnicodeDecodeError as e:
        raise _Refused(f"{str(path)} is not valid UTF-8 (byte {e.start}); save it as UTF-8") from None
    return data


def _read_fd(fd, path):
    """The bytes of an open file, rechecked after opening (it may have changed)."""
    with os.fdopen(fd, 'rb') as f:
        _check_regular(os.fstat(f.fileno()), path)
        data = f.read(MAX_MODULE_BYTES + 1)
    if len(data) > MAX_MODULE_BYTES:
        raise _Refused(f"{str(path)} is more than the {MAX_MODULE_BYTES} bytes a module "
                       f"may have")
    return _check_source(data, path)


def read_folder(folder, modules):
    """The Submission of the student modules (names, without .py) in folder.

    folder itself is named by the grader (trusted); everything below it is
    the student's. Raises SubmissionError when folder is not a folder.
    """
    folder = Path(folder)
    try:
        root = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        raise SubmissionError(f"{folder} does not exist") from None
    except NotADirectoryError:
        raise SubmissionError(f"{folder} is not a folder (nor a .zip)") from None
    except OSError as e:
        raise SubmissionError(f"{folder} cannot be read ({e.strerror or e})") from None
    try:
        paths, notes = _walk(root, MAX_ENTRIES)
        chosen, problems = _choose(_candidates(paths, modules), modules)
        sub = Submission(problems=problems, notes=notes)
        for module, path in chosen.items():
            try:
                sub.sources[module] = _read_fd(_open_below(root, path), path)
            except _Refused as e:
                sub.problems[module] = str(e)
            except OSError as e:
                sub.problems[module] = f"{str(path)} could not be read ({e.strerror or e})"
        return sub
    finally:
        os.close(root)


# ---------------------------------------------------------------- zips

def _zip_path(info):
    """The member's path as a relative PurePosixPath, or None if it is unsafe."""
    name = info.filename.replace('\\', '/')
    path = PurePosixPath(name)
    if path.is_absolute() or '..' in path.parts or not path.parts or ':' in path.parts[0]:
        return None
    return path


def _zip_kind(info):
    """'dir', 'file', 'link' or 'special' from the member's Unix mode bits."""
    if info.is_dir():
        return 'dir'
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind in (0, stat.S_IFREG):
        return 'file'   # zips made on Windows carry no Unix file type: plain files
    if kind == stat.S_IFLNK:
        return 'link'
    return 'special'


# What zipfile's constructor raises on a damaged or hostile directory: a name
# flagged UTF-8 that is not (UnicodeDecodeError, a ValueError), a truncated
# record (struct.error), an unknown version (NotImplementedError).
ZIP_DIRECTORY_ERRORS = (zipfile.BadZipFile, OSError, ValueError, EOFError, OverflowError,
                        NotImplementedError, struct.error)


def _check_directory(f, name):
    """Raise SubmissionError when the zip open as f is no zip, or its end
    records announce more than MAX_ENTRIES members or a central directory of
    more than MAX_ZIP_DIRECTORY bytes. Reads the end of the file only."""
    # zipfile's own reader of the end records (and of their zip64 forms): the
    # very numbers its constructor goes by; a parser of our own could be told
    # other numbers than zipfile, and so let a directory of millions through.
    try:
        end = zipfile._EndRecData(f)
    except ZIP_DIRECTORY_ERRORS as e:
        raise SubmissionError(f"{name} is not a valid zip file ({e})") from None
    if not end:
        raise SubmissionError(f"{name} is not a valid zip file (no end of central directory)")
    members, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if members > MAX_ENTRIES or size > MAX_ZIP_DIRECTORY:
        raise SubmissionError(f"{name} lists {members} members in a directory of {size} bytes, "
                              f"more than the {MAX_ENTRIES} members and {MAX_ZIP_DIRECTORY} "
                              f"bytes a submission zip may have")


def _open_zip(f, name):
    """The zipfile.ZipFile of the file open as f, its directory within the
    caps, or raises SubmissionError."""
    _check_directory(f, name)
    try:
        archive = zipfile.ZipFile(f)
    except UnicodeDecodeError:
        raise SubmissionError(f"{name} has a member whose name is marked UTF-8 but is not "
                              f"valid UTF-8; zip the files again") from None
    except ZIP_DIRECTORY_ERRORS as e:
        raise SubmissionError(f"{name} is not a valid zip file ({e})") from None
    if len(archive.infolist()) > MAX_ENTRIES:       # a directory of more than it announced
        archive.close()
        raise SubmissionError(f"{name} has more than the {MAX_ENTRIES} members a submission "
                              f"zip may have")
    return archive


def _same_name_key(info):
    """The member's name as a file system may see it when extracting: '\\' as
    '/', without '.' or empty parts or a trailing '/' (a/./b is a/b), in one
    Unicode normal form (NFC, as macOS differs), case folded (as macOS and
    Windows do). Two members with one key are one file to some tool."""
    path = PurePosixPath(info.orig_filename.replace('\\', '/'))
    return unicodedata.normalize('NFC', str(path)).casefold()


def _check_names(infos, name):
    """Raise SubmissionError unless every member's name is a clean line (no
    control character, valid UTF-8) and no two members share a name (see
    _same_name_key)."""
    seen = {}
    for info in infos:
        # orig_filename: as stored; zipfile cuts .filename at a NUL
        if not text.is_line(info.orig_filename):
            raise SubmissionError(f"{name} has a member whose name is empty, holds a control "
                                  f"character or is not valid UTF-8 "
                                  f"({text.line(info.orig_filename)}); rename it and zip the "
                                  f"files again")
        key = _same_name_key(info)
        if key in seen:
            raise SubmissionError(f"{name} holds two members with one name once case, '.' "
                                  f"and Unicode form are set aside ({seen[key]} and "
                                  f"{info.orig_filename}): which one is graded would be a "
                                  f"guess; keep one and zip the files again")
        seen[key] = info.orig_filename


def read_zip(zip_path, modules):
    """The Submission of the student modules in a zip, read in memory.

    Members that are links or special files are refused (a module that is
    one costs that module); unsafe paths ('..', absolute) are never used.
    Raises SubmissionError when the file is not a readable zip, or is
    refused as a whole (the module docstring says when).
    """
    zip_path = Path(zip_path)
    try:
        # O_NOFOLLOW, then fstat: the file checked is the file read
        f = os.fdopen(os.open(zip_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), 'rb')
    except OSError as e:
        raise SubmissionError(f"{zip_path} cannot be read ({e.strerror or e}; a link?)") from None
    with f:
        size = os.fstat(f.fileno())
        if not stat.S_ISREG(size.st_mode):
            raise SubmissionError(f"{zip_path} is not a regular file")
        if size.st_size > MAX_ZIP_BYTES:
            raise SubmissionError(f"{zip_path} is {size.st_size} bytes, more than the "
                                  f"{MAX_ZIP_BYTES} a submission zip may have")
        return _read_members(f, zip_path.name, modules)


def _read_members(f, name, modules):
    """read_zip's work on the zip open as f (name: for messages)."""
    with _open_zip(f, name) as archive:
        infos = archive.infolist()
        _check_names(infos, name)
        notes = []
        members, unsafe = {}, 0
        for info in infos:
            path = _zip_path(info)
            if path is None:
                unsafe += 1
                continue
            if SKIPPED_DIRS.intersection(path.parts[:-1]) or _zip_kind(info) == 'dir':
                continue
            members[path] = info
        if unsafe:
            notes.append(f"{unsafe} member(s) of the zip with unsafe paths ('..' or absolute) "
                         f"were ignored")
        chosen, problems = _choose(_candidates(members, modules), modules)
        sub = Submission(problems=problems, notes=notes)
        for module, path in chosen.items():
            info = members[path]
            kind = _zip_kind(info)
            if kind == 'link':
                sub.problems[module] = f"{str(path)} is a symbolic link; submit the file itself"
            elif kind == 'special':
                sub.problems[module] = f"{str(path)} is not a regular file; submit the file itself"
            elif info.file_size > MAX_MODULE_BYTES:
                sub.problems[module] = (f"{str(path)} is {info.file_size} bytes, more than "
                                        f"the {MAX_MODULE_BYTES} a module may have")
            else:
                try:
                    with archive.open(info) as member:
                        data = member.read(MAX_MODULE_BYTES + 1)
                except Exception as e:   # whatever a damaged member raises costs that module only
                    e = text.line(e)
                    sub.problems[module] = f"{str(path)} could not be read from the zip ({e})"
                    continue
                if len(data) > MAX_MODULE_BYTES:
                    sub.problems[module] = (f"{str(path)} is more than the "
                                            f"{MAX_MODULE_BYTES} bytes a module may have")
                    continue
                try:
                    sub.sources[module] = _check_source(data, path)
                except _Refused as e:
                    sub.problems[module] = str(e)
        return sub


def read_submission(path, modules):
    """The Submission at path: a zip file, or a folder (see read_folder)."""
    path = Path(path)
    if path.suffix.lower() == '.zip' and not path.is_dir():
        return read_zip(path, modules)
    return read_folder(path, modules)
