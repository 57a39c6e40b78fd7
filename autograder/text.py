"""Student text is data: what a student controls (the messages and output of
their code, file and folder names, ids) is made safe once, where it enters
the trusted side, and stays data wherever it is written.

    clean(value)                 # valid Unicode, nothing but printable text, newlines and tabs
    line(value, limit=None)      # the same on one line: names, one-line reasons, cells
    is_line(name)                # True when a name needs no escaping at all (an id, a zip member)
    clean_tree(obj)              # every string of a JSON-like value cleaned (results of a grade)
    csv_cell(value)              # a spreadsheet cell that is never a formula
    folder_name(id, suffixes)    # a student's folder beside the class's own files, never one of them

The allow-list: letters, marks, numbers, punctuation, symbols and the plain
space pass (str.isprintable: Unicode categories L, M, N, P, S and ' ').
Every other character is written as its Python escape (`\\x1b`, `\\u202e`,
`\\udcff`): control characters and ANSI escapes (they move a terminal's
cursor, rewrite a line), bidirectional overrides and other format characters
(they reorder what a reader sees), lone surrogates (undecodable bytes of a
file name; they make every UTF-8 writer fail), line separators, unassigned
and private-use code points. What the student wrote stays readable; it can
no longer break a file's encoding, a terminal or a one-line message. HTML
escaping happens where pages are built (report.py escapes every value).
"""
import re

# A newline and a tab keep a multi-line message (a failure, printed output) readable.
KEEP_IN_TEXT = '\n\t'
# OWASP's CSV-injection rule: a cell starting with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ('=', '+', '-', '@', '\t', '\r')
REASON_CHARS = 1000     # a one-line reason that names files: a zip member's name may be 64 KiB
CUT = ' [...]'


def _escape(char):
    """A character outside the allow-list as its Python escape (always ASCII)."""
    return char.encode('unicode_escape').decode('ascii')


def _allowed(keep):
    return lambda char: char.isprintable() or char in keep


def _as_text(value):
    """str of value; bytes are decoded as UTF-8, invalid bytes escaped (\\xff)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode('utf-8', 'backslashreplace')
    return value if isinstance(value, str) else str(value)


def _escaped(text, keep):
    if text.isprintable():                       # the common case, at C speed
        return text
    allowed = _allowed(keep)
    return ''.join(c if allowed(c) else _escape(c) for c in text)


def clean(value):
    """value as text that any writer accepts and no reader misreads: every
    character outside the allow-list (module docstring) escaped, newlines and
    tabs kept."""
    return _escaped(_as_text(value), KEEP_IN_TEXT)


def line(value, limit=None):
    """clean(value) on one line: newlines and tabs escaped too; cut to at most
    limit characters (ending in ' [...]') when a limit is given."""
    one = _escaped(_as_text(value), '')
    if limit is not None and len(one) > limit:
        one = one[:limit - len(CUT)] + CUT
    return one


def is_line(name):
    """True when name (a str) is non-empty and line() leaves it as it is."""
    return isinstance(name, str) and bool(name) and name.isprintable()


def clean_tree(obj):
    """obj (dicts, lists, strings, numbers: parsed JSON) with every string,
    keys included, cleaned; other values as they are."""
    if isinstance(obj, str):
        return clean(obj)
    if isinstance(obj, dict):
        return {clean_tree(k): clean_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_tree(v) for v in obj]
    return obj


def csv_cell(value):
    """value as one CSV cell: one line, and prefixed with ' when it would start
    a formula (OWASP: = + - @ tab CR), so a spreadsheet shows it as text."""
    text = line(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _percent(char):
    return ''.join(f'%{byte:02X}' for byte in char.encode('utf-8', 'surrogatepass'))


_RESERVED_IN_NAMES = re.compile('[%/\0]')


def folder_name(student, reserved_suffixes=()):
    """The name of the folder that holds a student's files beside files the
    class writes itself (a scores.csv, a report): the id, with '%' and '/'
    percent-encoded, and its first character percent-encoded too when the id
    would be hidden (a leading '.') or ends in one of reserved_suffixes
    (case-insensitively, as on a case-insensitive file system).

    Injective (percent-decoding gives the id back), so distinct students get
    distinct folders; and a folder whose name ends in a reserved suffix always
    starts with '%', which the class's own files never do, so no student's
    folder is ever one of them, whatever the id."""
    name = _RESERVED_IN_NAMES.sub(lambda m: _percent(m.group()), student)
    suffixes = tuple(s.casefold() for s in reserved_suffixes)
    if name.startswith('.') or (suffixes and name.casefold().endswith(suffixes)):
        name = _percent(name[0]) + name[1:]
    return name
