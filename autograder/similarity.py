"""Similar submissions: the pairs of students whose written code is unusually alike.

    found = similar_pairs({student: {module: source}}, release_sources(modules), threshold=0.5)
    found.pairs      # [Pair], most similar first: those at or above the threshold
    found.scores     # every pair's score (for the class's distribution)

A student's *written code* in a module is what differs from the release's
module: each function or method whose text (less its docstring) is not the
release's, whole, and each other statement the release lacks (the changed
lines, by difflib, for a module that does not parse), so that given code
never counts; and since a student may retype or move given code, every
fingerprint that the release also has is dropped (copydetect's boilerplate).
Code is compared module by module; units are kept apart (SEPARATOR), so
their order or neighbours never count.

Fingerprints are copydetect's (a MOSS-style detector, winnowing without the
winnowing at its default window of 1): the code is tokenized, every name
becomes one letter ('V'; 'F' and 'O' where a function or class is defined)
and every string one letter, comments and spaces go, and every K
consecutive characters of what is left is one fingerprint (copydetect's
hashed_kgrams); shared passages are copydetect's copied slices. Two of
copydetect's parts are replaced, measured on a class of 200 (19,900 pairs):
its tokenizer (pygments, about 10 us a token: 15-20 s for the class) by
Python's own tokenize (5 times faster, exact for Python), with copydetect's
rules; and its detector, which compares the pairs one by one (about 5 ms a
pair: 100 s), by one sparse product that counts the fingerprints every pair
shares at once (scipy). benchmarks/bench_class_report.py measures it.

A pair's score is the larger of its two shares: the fraction of one
student's fingerprints that the other's code also has (1: all of it). A pair
sharing fewer than MIN_SHARED fingerprints (a line or two of a common idiom)
scores 0. The score says the code is alike, never why: the instructor reads
the passages.

Nothing here runs student code: the sources are read as text.
"""
import ast
import builtins
import difflib
import functools
import io
import keyword
import tokenize
from dataclasses import dataclass, field

import numpy as np

from .blocks import parse_module

K = 25               # characters of normalized code per fingerprint (copydetect's noise threshold)
MIN_SHARED = 50      # fingerprints (about 3 lines) a pair must share before its score counts
DEFAULT_THRESHOLD = 0.5
# Between two units of code: K characters once normalized ('pass;' x 6), so
# that no fingerprint spans two units and unit order or neighbours never count.
SEPARATOR = 'pass; ' * 6 + '\n'
KEPT_NAMES = frozenset(dir(builtins)) | frozenset(keyword.kwlist)   # as written, like operators
DEFINED = {'def': 'F', 'class': 'O'}     # the letter of a name defined after these keywords


@dataclass
class Passages:
    """One module of a pair: the units of each student's written code that
    share code with the other's, each as (text, [(start, end)]: the character
    spans of text that the other's code shares)."""
    module: str
    units_a: list
    units_b: list


@dataclass
class Pair:
    a: str
    b: str
    score: float             # max(share_a, share_b)
    share_a: float           # fraction of a's fingerprints in b's code
    share_b: float
    shared: int              # fingerprints in common
    passages: list = field(default_factory=list)   # [Passages], modules with shared code


@dataclass
class Similarity:
    pairs: list              # [Pair] at or above the threshold, most similar first
    scores: np.ndarray       # the score of every pair of students compared
    students: list           # the students compared (those with written code)
    threshold: float


def units(source):
    """[(key, text)] of a module, in order: each function and method (key:
    its qualified name; its text without its docstring, which is the
    release's and slow to tokenize) and each other statement (key: its text).
    SyntaxError when the source does not parse."""
    tree, why = parse_module(source)
    if tree is None:
        raise SyntaxError(why)
    lines, found = source.splitlines(keepends=True), []

    def span(first, last):
        return ''.join(lines[first - 1:last])

    def visit(body, prefix):
        for node in body:
            if isinstance(node, ast.ClassDef):
                visit(node.body, f'{prefix}{node.name}.')
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([d.lineno for d in node.decorator_list] + [node.lineno])
                rest = node.body[1:] if ast.get_docstring(node, clean=False) is not None else node.body
                text = span(first, node.body[0].lineno - 1) + (span(rest[0].lineno, node.end_lineno) if rest else '')
                found.append((prefix + node.name, text))
            else:
                text = span(node.lineno, node.end_lineno)
                found.append((text, text))

    visit(tree.body, '')
    return found


def changed_lines(source, release):
    """The runs of lines of source that the release does not have at that
    place (difflib): the written code of a module that does not parse."""
    mine, given = source.splitlines(keepends=True), release.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, given, mine, autojunk=False)
    return [''.join(mine[j1:j2]) for op, _, _, j1, j2 in matcher.get_opcodes() if op in ('replace', 'insert')]


def written_units(source, release, given=None):
    """The written code of a module: its functions and statements that differ
    from the release's (a whole function when any line of it does), in order.
    given: dict(units(release)), when already at hand."""
    given = dict(units(release)) if given is None else given
    try:
        return [text for key, text in units(source) if given.get(key) != text]
    except (SyntaxError, ValueError, RecursionError, MemoryError):   # hostile code parses as text
        return changed_lines(source, release)


def document(parts):
    """One text of code units, SEPARATOR between them: no fingerprint spans two units."""
    return SEPARATOR.join(part if part.endswith('\n') else part + '\n' for part in parts)


def release_sources(modules, package=None):
    """{module: source} of the release's student modules (the boilerplate)."""
    from .course import COURSE
    package = package or COURSE.release_package
    return {m: (package / f'{m}.py').read_text() for m in modules}


def normalized(code):
    """(text, starts, ends): code as copydetect reads it, tokenized by Python's
    own tokenize: every name 'V', a function's name where defined 'F', a
    class's 'O', every string 'S'; keywords, builtins, numbers and operators
    as written; spaces and comments gone. Character i of text comes from
    code[starts[i]:ends[i]]. Code that does not tokenize to its end is read
    up to where it stops."""
    line_starts = [0]
    for line in code.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    words, starts, ends, previous = [], [], [], ''
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.NAME:
                word = tok.string if tok.string in KEPT_NAMES else DEFINED.get(previous, 'V')
            elif tok.type == tokenize.STRING:
                word = 'S'
            elif tok.type in (tokenize.NUMBER, tokenize.OP):
                word = tok.string
            else:
                continue
            previous = tok.string
            words.append(word)
            starts.append(line_starts[tok.start[0] - 1] + tok.start[1])
            ends.append(line_starts[tok.end[0] - 1] + tok.end[1])
    except (tokenize.TokenError, SyntaxError):
        pass
    lengths = [len(word) for word in words]
    return (''.join(words), np.repeat(np.array(starts, dtype=np.int64), lengths),
            np.repeat(np.array(ends, dtype=np.int64), lengths))


@dataclass
class Fingerprint:
    """One module's written code: its text, and the hash of every K
    characters of its normalized text (copydetect's k-grams; every one kept,
    so that the choice never depends on hash values) that the release lacks."""
    code: str
    hashes: np.ndarray           # at each kept position
    positions: np.ndarray        # where each starts in the normalized text
    starts: np.ndarray           # raw offsets per normalized character (see normalized)
    ends: np.ndarray

    @property
    def unique(self):
        return np.unique(self.hashes)


def copydetect_utils():
    """copydetect.utils, imported with matplotlib on Agg (copydetect's package
    imports pyplot: never a window, on any machine)."""
    import matplotlib
    matplotlib.use('Agg')
    from copydetect import utils
    return utils


def fingerprint(code, boilerplate=None):
    """The Fingerprint of code, less the hashes in boilerplate (a sorted array)."""
    text, starts, ends = normalized(code)
    hashes = np.asarray(copydetect_utils().hashed_kgrams(text, K), dtype=np.int64)
    positions = np.arange(len(hashes))
    if boilerplate is not None and len(hashes):
        keep = ~np.isin(hashes, boilerplate)
        hashes, positions = hashes[keep], positions[keep]
    return Fingerprint(code, hashes, positions, starts, ends)


def boilerplate_hashes(release):
    """The fingerprints of the release's modules, all of them together: of
    each module, and of its units one by one (as students' code is read)."""
    return _boilerplate(tuple(sorted(release.items())))


@functools.lru_cache(maxsize=4)
def _boilerplate(release):
    prints = [fingerprint(text).hashes for _, source in release
              for text in (source, document(text for _, text in units(source)))]
    return np.unique(np.concatenate(prints)) if prints else np.array([], dtype=np.int64)


def _as_text(source):
    return source.decode('utf-8', errors='replace') if isinstance(source, bytes) else str(source)


def shared_counts(prints, students, modules):
    """(shared, sizes): shared[i, j] the fingerprints students i and j have in
    common (same module), sizes[i] the fingerprints of student i: one sparse
    product of the students x fingerprints matrix with itself."""
    from scipy import sparse
    rows, hashes = [], []
    for i, student in enumerate(students):
        for k, module in enumerate(modules):
            unique = prints[student][module].unique
            rows.append(np.full(len(unique), i))
            hashes.append(unique ^ np.int64((k + 1) * 0x2545F4914F6CDD1D % 2 ** 63))   # a space per module
    rows, hashes = np.concatenate(rows), np.concatenate(hashes)
    _, columns = np.unique(hashes, return_inverse=True)
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, columns.ravel())),
                               shape=(len(students), int(columns.max(initial=0)) + 1))
    shared = (matrix @ matrix.T).toarray()
    return shared, np.diag(shared).copy()


def pair_scores(shared, sizes):
    """(scores, share): share[i, j] the fraction of i's fingerprints that j
    has; scores[i, j] the larger of share[i, j] and share[j, i], 0 where the
    pair shares fewer than MIN_SHARED."""
    with np.errstate(divide='ignore', invalid='ignore'):
        share = np.where(sizes[:, None] > 0, shared / np.maximum(sizes[:, None], 1), 0.0)
    scores = np.maximum(share, share.T)
    scores[shared < MIN_SHARED] = 0.0
    return scores, share


def marked_units(code, spans):
    """[(unit text, [(start, end)] within it)] of the units of a document
    (see document) that spans ([(start, end)] in the document) touch."""
    found, start = [], 0
    for text in code.split(SEPARATOR):
        end = start + len(text)
        inside = [(max(s, start) - start, min(e, end) - start) for s, e in spans if s < end and e > start]
        inside = [(s, e) for s, e in inside if text[s:e].strip()]
        if inside:
            found.append((text, inside))
        start = end + len(SEPARATOR)
    return found


def shared_spans(mine, theirs):
    """The [start, end) spans of mine's code that theirs shares (copydetect's
    copied slices of the shared k-grams, mapped back to the code)."""
    shared = np.isin(mine.hashes, theirs.unique)
    slices = copydetect_utils().get_copied_slices(mine.positions[shared], K)
    return [(int(mine.starts[s]), int(mine.ends[e - 1])) for s, e in np.asarray(slices, dtype=np.int64).T]


def passages(prints_a, prints_b, modules):
    """[Passages] of the modules where two students' written code overlaps."""
    found = []
    for module in modules:
        a, b = prints_a[module], prints_b[module]
        spans_a, spans_b = shared_spans(a, b), shared_spans(b, a)
        if spans_a:
            found.append(Passages(module, marked_units(a.code, spans_a), marked_units(b.code, spans_b)))
    return found


def similar_pairs(sources, release, threshold=DEFAULT_THRESHOLD, max_pairs=None):
    """Similarity of the students in sources ({student: {module: source text
    or bytes}}), against the release ({module: source}): the pairs scoring at
    least threshold (at most max_pairs of them, the most similar), with their
    shared passages. A student with no written code is left out."""
    modules = sorted(release)
    boilerplate = boilerplate_hashes(release)
    given = {m: dict(units(release[m])) for m in modules}
    prints = {}
    for student in sorted(sources):
        code = {m: document(written_units(_as_text(sources[student].get(m, release[m])), release[m], given[m]))
                for m in modules}
        prints[student] = {m: fingerprint(code[m], boilerplate) for m in modules}
    students = [s for s in prints if any(len(prints[s][m].hashes) for m in modules)]
    if len(students) < 2:
        return Similarity([], np.array([]), students, threshold)
    shared, sizes = shared_counts(prints, students, modules)
    scores, share = pair_scores(shared, sizes)
    upper = np.triu_indices(len(students), 1)
    chosen = [(i, j) for i, j in zip(*upper) if scores[i, j] >= threshold]
    chosen.sort(key=lambda ij: (-scores[ij], students[ij[0]], students[ij[1]]))
    pairs = []
    for i, j in chosen[:max_pairs]:
        a, b = students[i], students[j]
        pairs.append(Pair(a, b, float(scores[i, j]), float(share[i, j]), float(share[j, i]),
                          int(shared[i, j]), passages(prints[a], prints[b], modules)))
    return Similarity(pairs, scores[upper], students, threshold)
