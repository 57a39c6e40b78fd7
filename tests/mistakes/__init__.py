"""The catalogue of typical student mistakes, and the machinery shared with
tests/variants: build a patched copy of the reference package, grade it,
and pack cases into shared submissions.

A catalogue module (tests/mistakes/<module>.py, tests/variants/<module>.py)
defines CASES = {name: Case(...)}. A patch is {module: [edit, ...]} where an
edit is either (old, new), a text replacement whose `old` must occur exactly
once in the module, or a Def: the full source of a function, written at
column 0, that replaces the function of that qualname ('Linear.backward')
while keeping its decorators.

A mistake costs its own item once: it must lose points on every item of
`loses`, and on no other item, except the items of `cascades`, which depend
on the broken function in a way no grader can replace (a backward pass needs
its forward's cache; a training run trains the student's own net): there,
every failed test must name an item of `loses` as its cause (results.json's
`caused_by`). A variant (no `loses`) keeps full marks everywhere.
"""
import functools
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.harness import grade_submission
from autograder.rubric import load_rubric
from autograder.blocks import function_spans
from autograder.course import COURSE
from coursekit import submissions
from coursekit.submissions import Def

REPO = Path(__file__).resolve().parents[2]
REFERENCE = COURSE.solution_package
SUITES = REPO / 'autograder' / 'suites'
RUBRIC = load_rubric()
# Items that call the functions of a module besides the module's own items
# (a variant there must keep them at full marks too).
DEPENDENTS = {'layers': ['linear_relu', 'fc_net'], 'dropout': ['fc_net'], 'init': ['fc_net'],
              'normalization': ['spatial_batchnorm_forward', 'spatial_batchnorm_backward', 'fc_net'],
              'optim': ['adamw']}
MARGIN = 100   # a mistake's error must exceed its tolerance this many times over
ERROR = re.compile(r"relative error ([0-9.e+-]+) \(allowed ([0-9.e+-]+)\)")


@dataclass
class Case:
    patch: dict                                     # {module: [edit, ...]}
    loses: list = field(default_factory=list)      # items that must lose points (mistakes)
    cascades: list = field(default_factory=list)   # items that may lose, naming a `loses` item
    uses: list = field(default_factory=list)       # other items whose functions its code calls


# ---------------------------------------------------------------- patching

def build_package(patch, dest):
    """A copy of the reference package at dest/scratchnn with the patch applied."""
    return submissions.build_package(Path(dest) / 'scratchnn', REFERENCE, patch)


@functools.lru_cache(maxsize=None)
def _spans(module):
    source = (REFERENCE / f'{module}.py').read_text()
    return source, function_spans(source)


def patched_functions(patch):
    """{'module.QualName'} of the functions a patch edits ('module.<module>' for
    an edit outside every function)."""
    found = set()
    for module, edits in patch.items():
        source, spans = _spans(module)
        for edit in edits:
            if isinstance(edit, Def):
                found.add(f'{module}.{edit.qualname}')
                continue
            start = source[:source.index(edit[0])].count('\n') + 1
            end = start + edit[0].rstrip('\n').count('\n')
            owners = [s for s in spans if s[0] <= start and end <= s[1]]
            found.add(f'{module}.' + (max(owners)[2] if owners else '<module>'))
    return found


def touched_items(patch):
    """Items that grade a patched function, and the items that depend on its module."""
    functions = patched_functions(patch)
    items = {i for i, spec in RUBRIC.items() if functions & set(spec.functions)}
    for module in patch:
        items.update(DEPENDENTS.get(module, []))
    return items


# ---------------------------------------------------------------- grading

def suite_files(items):
    """The hidden suite files that name any of these items (they mark their
    tests with it): collecting only those keeps a one-item grade quick."""
    return sorted(p.name for p in SUITES.glob('test_*.py')
                  if any(f"'{item}'" in p.read_text() for item in items))


def grade(package_dir, items=None):
    """{item: {'score', 'max', 'failed': {test name: (message, caused_by)}}},
    scored by the harness itself. The package is trusted (the reference with
    a known patch), so it runs in-process: no sandbox start-up per case."""
    results = grade_submission(Path(package_dir).parent, sandbox='inprocess', items=items,
                               suite_files=suite_files(items) if items else None)
    return item_grades(results)


def item_grades(results):
    """The item view of a results.json dict (see grade)."""
    items = {item: {'score': v['score'], 'max': v['max_score'], 'failed': {}}
             for item, v in results['items'].items()}
    for test in results['tests']:
        if test['score'] < test['max_score']:
            items[test['number']]['failed'][test['name']] = (test['output'],
                                                             test.get('caused_by'))
    return items


def load_catalogue(kind):
    """{(module, case name): Case} of tests/<kind>/*.py."""
    cases = {}
    for path in sorted((REPO / 'tests' / kind).glob('[a-z]*.py')):
        module = importlib.import_module(f'{kind}.{path.stem}')
        for name, case in module.CASES.items():
            cases[(path.stem, name)] = case
    return cases


# ---------------------------------------------------------------- verdicts

def problems(case, grades, only_there=True):
    """How the grades of a package holding `case` break the catalogue's promise
    ([] when they keep it): every `loses` item loses points, with
    student-facing messages; every `cascades` item loses only on tests that
    name a `loses` item as their cause; with only_there, every other item
    graded keeps full marks."""
    found = []
    for item in case.loses:
        g = grades[item]
        if g['score'] >= g['max']:
            found.append(f"{item}: full marks despite the mistake")
        for name, (message, _) in g['failed'].items():
            if not message or 'def test_' in message or 'Traceback' in message:
                found.append(f"{item}: {name} shows no student-facing message: {message!r}")
            for error, allowed in ERROR.findall(message):
                if float(error) < MARGIN * float(allowed):
                    found.append(f"{item}: {name} fails by a hair (relative error {error}, "
                                 f"allowed {allowed}): {message[:300]}")
    for item in case.cascades:
        for name, (message, cause) in grades.get(item, {'failed': {}})['failed'].items():
            if cause not in case.loses:
                found.append(f"{item}: {name} lost points without naming its cause "
                             f"{case.loses} (caused_by {cause!r}): {message[:300]}")
    if only_there:
        for item, g in grades.items():
            if item not in case.loses and item not in case.cascades and g['score'] < g['max']:
                found.append(f"{item} lost points but is independent of the mistake: "
                             f"{ {n: m[:300] for n, (m, _) in g['failed'].items()} }")
    return found


# ---------------------------------------------------------------- shared submissions

def footprint(case):
    """The items a case may cost: its mistake's items and cascades, or, for a
    variant, the items of the functions it rewrites (which must keep full marks)."""
    functions = patched_functions(case.patch)
    own = {i for i, spec in RUBRIC.items() if functions & set(spec.functions)}
    return set(case.loses) | set(case.cascades) | set(case.uses) | (set() if case.loses else own)


def merged_patch(cases):
    patch = {}
    for case in cases:
        for module, edits in case.patch.items():
            patch.setdefault(module, []).extend(edits)
    return patch


def _composable(cases):
    try:
        for module, edits in merged_patch(cases).items():
            source = (REFERENCE / f'{module}.py').read_text()
            for edit in edits:
                source = submissions.apply_edit(source, edit)
    except (ValueError, KeyError):
        return False
    return True


def pack(cases):
    """[[key, ...], ...]: the cases of {key: Case} packed into few shared
    submissions. Cases share one when they patch different functions and
    their footprints are disjoint, so that each case's items must lose, every
    other item must keep full marks, and no case can hide another: exactly "a
    mistake costs once"."""
    batches = []
    for key in sorted(cases, key=lambda k: (-len(footprint(cases[k])), k)):
        case = cases[key]
        for batch in batches:
            others = [cases[k] for k in batch]
            if all(_may_share(case, o) for o in others) and _composable(others + [case]):
                batch.append(key)
                break
        else:
            batches.append([key])
    return batches


def _may_share(a, b):
    """Whether two cases can share a submission: different functions patched,
    and neither may cost an item the other must lose or keep (two cases may
    cascade into one item: its failures must then name one of their items)."""
    if a.loses and a.loses == b.loses:   # mistakes in one item: each loses it in its own test
        return not (footprint(a) ^ footprint(b)) - set(a.cascades) - set(b.cascades)
    if patched_functions(a.patch) & patched_functions(b.patch):
        return False
    return not ((footprint(a) - set(a.cascades)) & footprint(b)
                or (footprint(b) - set(b.cascades)) & footprint(a))


def batch_problems(cases, grades):
    """problems() of every case of a shared submission, and every item outside
    all of their footprints at full marks."""
    causes = {}   # cascade item -> the items whose mistakes may cost it
    for case in cases:
        for item in case.cascades:
            causes.setdefault(item, set()).update(case.loses)
    found = [p for case in cases
             for p in problems(Case(case.patch, case.loses), grades, only_there=False)]
    for item, allowed in causes.items():
        for name, (message, cause) in grades.get(item, {'failed': {}})['failed'].items():
            if cause not in allowed:
                found.append(f"{item}: {name} lost points without naming its cause "
                             f"{sorted(allowed)} (caused_by {cause!r}): {message[:300]}")
    covered = set().union(*(set(c.loses) for c in cases)) | set(causes)
    for item, g in grades.items():
        if item not in covered and g['score'] < g['max']:
            found.append(f"{item} lost points but no case of this submission may cost it: "
                         f"{ {n: m[:300] for n, (m, _) in g['failed'].items()} }")
    return found
