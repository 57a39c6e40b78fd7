"""What a class folder holds, and each submission's modules packed for grading.

    entries, ignored = scan_class('submitted', modules)
    entries[0].student, entries[0].packed, entries[0].problem
    packed = pack('submitted/ada', modules)   # a folder or a zip
    unpack(packed, dest)                      # dest/scratchnn/<module>.py
    resolve_one('some/path', modules)         # what to grade, or NotGradable saying why

A class folder holds one entry per student, named by the student's id: a
folder in any layout submission.read_folder accepts (scratchnn/,
nn_from_scratch/scratchnn/, the modules at the top, or a single .zip of
them inside), or a .zip of one. Every entry is either a student to grade or
listed with the reason it is not: a notebook without modules, a folder with
nothing to grade, a file that is no submission. Nothing is skipped silently.

A student id is a name of the class folder, so the student's: an entry
whose name is not a clean line (text.is_line: valid UTF-8, no control
character) or longer than MAX_ID_CHARS is listed, under its escaped name,
as not gradable; two entries whose ids differ only by case or Unicode form
(one folder on macOS, one id to a person) are both listed as one student
with two submissions. Anything that fails while reading one entry is that
entry's reason, never the class's.

A packed submission is what a worker needs, and nothing more: the bytes of
the student's modules (kilobytes), read by submission.read_submission without
following any link, and the reasons for the modules that were refused.
"""
import hashlib
import json
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .. import text
from .submission import PACKAGE, SubmissionError, read_submission

NOTEBOOK, ZIP = '.ipynb', '.zip'
MAX_LOOK = 2_000        # entries looked at when explaining an empty submission
MAX_ID_CHARS = 128      # nbgrader's gradebook keeps student ids in a VARCHAR(128)


class NotGradable(Exception):
    """The path holds nothing to grade; the message says why, in one clean
    line (text.line: it names the student's files)."""

    def __init__(self, reason):
        super().__init__(text.line(reason, text.REASON_CHARS))


# ---------------------------------------------------------------- one submission

def _listing(folder):
    """(files, folders): relative paths under folder, at most 3 levels deep,
    without following links (for explaining what is there)."""
    files, folders = [], []
    for root, dirs, names in os.walk(folder, followlinks=False):
        depth = len(Path(root).relative_to(folder).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(('.', '__')))
        if depth >= 3:
            dirs[:] = []
        folders += [Path(root, d).relative_to(folder) for d in dirs]
        files += [Path(root, n).relative_to(folder) for n in sorted(names)]
        if len(files) + len(folders) > MAX_LOOK:
            break
    return files, folders


def _names(paths, limit=3):
    shown = ', '.join(str(p) for p in paths[:limit])
    return shown + (f' and {len(paths) - limit} more' if len(paths) > limit else '')


def explain_empty(path, modules):
    """One line: why path (a folder or zip with no student module) has nothing to grade."""
    path = Path(path)
    wanted = ', '.join(f'{m}.py' for m in modules)
    if path.suffix.lower() == ZIP and path.is_file():
        return (f"{path} holds no {PACKAGE} modules ({wanted}): zip the nn_from_scratch "
                f"folder, or the modules themselves")
    files, folders = _listing(path)
    if not files and not folders:
        return f"{path} is empty: nothing was submitted"
    notebooks = [f for f in files if f.suffix == NOTEBOOK]
    if notebooks:
        return (f"{path} holds notebooks ({_names(notebooks)}) but no {PACKAGE} modules: "
                f"the grade comes from {PACKAGE}/*.py, so submit the whole nn_from_scratch "
                f"folder")
    zips = [f for f in files if f.suffix.lower() == ZIP]
    if zips:
        return f"{path} holds {len(zips)} zips ({_names(zips)}): submit exactly one"
    return (f"{path} has no {PACKAGE} folder (nor {wanted} at its top); "
            f"it holds {_names(files + folders)}")


def class_size(path, modules):
    """How many subfolders of path hold a submission of their own (2+: a class folder)."""
    count = 0
    for sub in sorted(Path(path).iterdir()):
        if sub.is_dir() and not sub.is_symlink() and not sub.name.startswith('.'):
            try:
                count += not read_submission(sub, modules).empty
            except SubmissionError:
                pass
    return count


def resolve(path, modules):
    """The folder or zip to grade at path: path itself, or the one .zip a
    folder with no modules holds (what a learning management system hands
    out). Raises NotGradable with a one-line reason when there is nothing to grade."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise NotGradable(f"{path} does not exist")
    try:
        submission = read_submission(path, modules)
    except SubmissionError as e:
        raise NotGradable(str(e)) from None
    if path.is_dir() and submission.empty:
        zips = sorted(p for p in path.iterdir() if p.suffix.lower() == ZIP and p.is_file()
                      and not p.is_symlink())
        if len(zips) == 1:
            return resolve(zips[0], modules)
    if submission.empty:
        raise NotGradable(explain_empty(path, modules))
    return path


def resolve_one(path, modules):
    """resolve(path), refusing a whole class folder given where one submission is expected."""
    path = Path(path)
    if path.is_dir():
        students = class_size(path, modules)
        if students >= 2:
            raise NotGradable(f"{path} looks like a class folder ({students} student "
                              f"submissions in it): grade it with `python -m autograder "
                              f"grade-all {path}`")
    return resolve(path, modules)


# ---------------------------------------------------------------- packing

def pack(path, modules):
    """{'sources': {module: bytes}, 'problems': {module: message}, 'notes': [...]}
    of the submission at path (see resolve). Raises NotGradable."""
    submission = read_submission(resolve(path, modules), modules)
    return {'sources': dict(submission.sources), 'problems': dict(submission.problems),
            'notes': list(submission.notes)}


def digest(packed):
    """sha256 of what a packed submission grades as: the modules and the refusals."""
    content = {'sources': {m: hashlib.sha256(code).hexdigest()
                           for m, code in sorted(packed['sources'].items())},
               'problems': dict(sorted(packed['problems'].items()))}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def unpack(packed, dest):
    """Write dest/scratchnn/<module>.py for every module of a packed submission; returns dest.

    A refused module is written as `raise ImportError(<why>)`: exactly the
    module the sandbox puts in its place when it grades the original, so the
    student reads the same reason and loses the same items."""
    package = Path(dest) / PACKAGE
    package.mkdir(parents=True, exist_ok=True)
    for module, code in packed['sources'].items():
        (package / f'{module}.py').write_bytes(code)
    for module, problem in packed['problems'].items():
        if module not in packed['sources']:
            (package / f'{module}.py').write_text(f'raise ImportError({problem!r})\n')
    return Path(dest)


# ---------------------------------------------------------------- a class folder

@dataclass
class Entry:
    """One student of a class folder: packed modules, or the reason there are none."""
    student: str
    path: Path
    packed: dict = None
    problem: str = ''


def _student_of(path):
    """The student id an entry of a class folder names: a .zip's or a
    notebook's stem, else the name (a folder's)."""
    return path.stem if path.suffix.lower() in (ZIP, NOTEBOOK) and not path.is_dir() else path.name


def _id_problem(student):
    """Why a name cannot be a student id, or '' when it can."""
    if not text.is_line(student):
        return "is not valid UTF-8 or holds control characters"
    if len(student) > MAX_ID_CHARS:
        return f"is longer than the {MAX_ID_CHARS} characters of a student id"
    return ''


def _entry(path, modules, skip=()):
    """The Entry of one folder or file of a class folder, or (None, reason) to
    ignore it (skip: resolved paths that are no student's, the output folder)."""
    name = path.name
    if name.startswith('.'):
        return None, "hidden"
    if path.resolve() in skip:
        return None, "the output folder"
    if not (path.is_dir() or path.suffix.lower() in (ZIP, NOTEBOOK) and path.is_file()):
        return None, "not a student folder, a .zip or a notebook"
    student = _student_of(path)
    why = _id_problem(student)
    if why:
        return Entry(text.line(student, MAX_ID_CHARS), path, problem=(
            f"the name {text.line(name)} {why}: rename it to the student's id")), ''
    if path.is_symlink():       # a link could make another's work, or the solutions, this student's
        return Entry(student, path, problem=(
            f"{name} is a symbolic link: the class folder must hold the submission itself")), ''
    if path.suffix.lower() == NOTEBOOK and not path.is_dir():
        return Entry(student, path, problem=(
            f"{name} is a notebook only: the grade comes from the {PACKAGE} modules; "
            f"ask for the whole nn_from_scratch folder or a zip of it")), ''
    try:
        return Entry(student, path, packed=pack(path, modules)), ''
    except NotGradable as e:
        return Entry(student, path, problem=str(e)), ''


def _entry_or_fault(path, modules, skip):
    """_entry(path, modules, skip), or the Entry of a student whose reading failed, saying how."""
    try:
        return _entry(path, modules, skip)
    except Exception as e:   # one unreadable entry costs its student, never the class
        return Entry(text.line(_student_of(path), MAX_ID_CHARS), path, problem=(
            f"{text.line(path.name)} could not be read: {type(e).__name__}: {text.line(e)}")), ''


def _same_student_key(student):
    """Ids that name one student to a person or a case-insensitive file system
    (Ada and ada, é composed or not) have one key."""
    return unicodedata.normalize('NFC', student).casefold()


def scan_class(folder, modules, exclude=()):
    """([Entry] by student id, [(name, reason)] of the entries that are no student).

    Raises NotGradable when folder is missing, not a folder, or holds no entry at all."""
    folder = Path(folder)
    if not folder.exists():
        raise NotGradable(f"{folder} does not exist")
    if not folder.is_dir():
        kind = "a zip of one submission (grade it with `python -m autograder grade`)" \
            if folder.suffix.lower() == ZIP else "a file"
        raise NotGradable(f"{folder} is {kind}, not a folder of student submissions")
    skip = {Path(p).resolve() for p in exclude}
    by_student, ignored = {}, []
    try:
        paths = sorted(folder.iterdir())
    except OSError as e:
        raise NotGradable(f"{folder} cannot be read ({e.strerror or e})") from None
    for path in paths:
        entry, reason = _entry_or_fault(path, modules, skip)
        if entry is None:
            ignored.append((text.line(path.name), reason))
        else:
            by_student.setdefault(_same_student_key(entry.student), []).append(entry)
    entries = []
    for found in sorted(by_student.values(), key=lambda found: found[0].student):
        if len(found) > 1:
            names = ' and '.join(text.line(p.path.name) for p in found)
            found = [Entry(found[0].student, found[0].path, problem=(
                f"{names} are both in the class folder for {found[0].student}: keep one"))]
        entries.append(found[0])
    if not entries:
        listed = f" (only {_names([n for n, _ in ignored])})" if ignored else ''
        raise NotGradable(f"{folder} holds no student submissions{listed}")
    return entries, ignored
