"""The class page, grades/class.html: what an instructor looks at after grade-all.

    write_class_report(out_dir, results_by_student, errors, sources)   # grade-all calls this
    rebuild(grades_dir, submissions_dir)     # `python -m autograder report GRADES`

One self-contained HTML file (no script, no external resource; the
histograms are PNG data URIs drawn by matplotlib's Agg backend), in four parts:

- Students to look at: who ran out of time, broke a rule or could not be
  graded, each with the item and the grader's reason.
- Items, by points lost in the class: a histogram of the scores, the mean,
  how many students got full marks, partial credit or nothing.
- Why points were lost: the failure reasons grouped per item (the first line
  of a failed test's message, its numbers masked: the same message with other
  numbers is one reason), with the points they cost, how many students, and
  links to those students' feedback pages.
- Similar submissions (autograder/similarity.py): the pairs of students whose
  written code is alike beyond a threshold, with the shared passages side by
  side. The page says "similar", never more.

It is built from data on the trusted side only: the results.json files, the
error files and the submitted sources read as text; no student code runs.
Everything a student controls (ids, messages, code) goes through `text()`,
the one escaping function, and never into a script, a style or a file name.
"""
import base64
import functools
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from urllib.parse import quote

from . import report, similarity
from . import text as student_text
from .results import (ERROR_NAME, FEEDBACK_NAME, RESULTS_NAME, read_results, student_dir, student_of,
                      write_text_atomic)
from .rubric import RUBRIC

CLASS_NAME = 'class.html'
MAX_PAIRS = 30                      # similar pairs shown in full (the rest are counted)
MAX_REASONS = 60                    # reason groups shown (the rest are counted)
NUMBER = re.compile(r'[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?')
# The grader's words for code that ran out of time (autograder/isolation/sandbox.py).
OUT_OF_TIME = re.compile(r'did not finish within [\d.]+ s|ran out of (?:this item\'s|the submission\'s) '
                         r'time budget|ran out of their time budget')
RULE_VIOLATION = 'Rule violation:'  # how the harness starts a rule violation's message


def text(value):
    """value as HTML text: the one place where the page escapes what a student
    controls (made safe text first: autograder/text.py)."""
    return escape(student_text.clean(str(value)), quote=True)


# ---------------------------------------------------------------- the facts

@dataclass
class ItemStats:
    item: str
    max_score: float
    scores: list                     # one per graded student

    @property
    def mean(self):
        return sum(self.scores) / len(self.scores) if self.scores else 0.0

    @property
    def full(self):
        return sum(s >= self.max_score for s in self.scores)

    @property
    def zero(self):
        return sum(s <= 0 for s in self.scores) if self.max_score else 0

    @property
    def partial(self):
        return len(self.scores) - self.full - self.zero

    @property
    def lost(self):
        return sum(self.max_score - s for s in self.scores)


def item_stats(results_by_student):
    """[ItemStats] of every item, the most points lost in the class first (then in results order)."""
    stats = {}
    for results in results_by_student.values():
        for item, points in results['items'].items():
            stats.setdefault(item, ItemStats(item, float(points['max_score']), []))
            stats[item].scores.append(float(points['score']))
    order = list(stats)
    return sorted(stats.values(), key=lambda s: (-s.lost, order.index(s.item)))


def reason_pattern(message):
    """The first line of a failure message with its numbers masked: messages
    that differ only in numbers are one reason."""
    return NUMBER.sub('#', report.reason({'output': message}))


@dataclass
class Reason:
    item: str
    pattern: str
    caused_by: str = None
    lost: dict = field(default_factory=dict)       # student -> points lost to this reason
    examples: set = field(default_factory=set)     # the first lines as written

    @property
    def shown(self):
        """The message itself when every student got the same, else its pattern."""
        return next(iter(self.examples)) if len(self.examples) == 1 else self.pattern


def lost_reasons(results_by_student):
    """[Reason] behind the points lost, grouped by item, message pattern and
    causing item; the most points lost first."""
    groups = {}
    for student, results in sorted(results_by_student.items()):
        for test in results.get('tests', []):
            lost = float(test['max_score']) - float(test['score'])
            if lost <= 0:
                continue
            item = test.get('number', test['name'])
            key = (item, reason_pattern(test.get('output')), test.get('caused_by'))
            group = groups.setdefault(key, Reason(*key))
            group.lost[student] = group.lost.get(student, 0.0) + lost
            group.examples.add(report.reason(test))
    return sorted(groups.values(), key=lambda r: (-sum(r.lost.values()), r.item, r.pattern))


@dataclass
class Incident:
    student: str
    kind: str            # 'ran out of time', 'broke a rule', 'not graded'
    items: list
    reason: str


def incidents(results_by_student, errors):
    """[Incident]: per student, the items whose code ran out of time, those
    that broke a rule, and the students that could not be graded."""
    found = []
    for student, results in sorted(results_by_student.items()):
        kinds = defaultdict(dict)              # kind -> item -> first reason
        for test in results.get('tests', []):
            output = str(test.get('output') or '')
            if test['score'] >= test['max_score'] or test.get('caused_by'):
                continue
            item = test.get('number', test['name'])
            if output.startswith(RULE_VIOLATION):
                kinds['broke a rule'].setdefault(item, report.reason(test))
            elif OUT_OF_TIME.search(output):
                kinds['ran out of time'].setdefault(item, report.reason(test))
        for kind, items in kinds.items():
            found.append(Incident(student, kind, list(items), next(iter(items.values()))))
    found += [Incident(student, 'not graded', [], error) for student, error in sorted(errors.items())]
    return found


# ---------------------------------------------------------------- histograms

def histogram(values, top, bins=10, width=1.6, height=0.45, mark=None):
    """A small histogram of values over [0, top] as a PNG data URI (matplotlib's
    Agg backend): bars only, no axes (the page labels them; axes would take
    most of the drawing time). Items scored alike share one drawing."""
    return _histogram(tuple(sorted(values)), top, bins, width, height, mark)


@functools.lru_cache(maxsize=256)
def _histogram(values, top, bins, width, height, mark, color='#4c78a8'):
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib.figure import Figure
    figure = Figure(figsize=(width, height), dpi=80)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.hist(values, bins=bins, range=(0, top or 1), color=color, edgecolor='white', linewidth=0.5)
    axes.axhline(0, color='#888', linewidth=1)
    if mark is not None:
        axes.axvline(mark, color='#b00020', linewidth=1)
    axes.set_xlim(0, top or 1)
    axes.set_axis_off()
    png = io.BytesIO()
    figure.savefig(png, format='png')
    return 'data:image/png;base64,' + base64.b64encode(png.getvalue()).decode('ascii')


def img(uri, alt, top):
    """A histogram image, its range written below it."""
    return (f'<figure class="hist"><img src="{uri}" alt="{text(alt)}">'
            f'<figcaption><span>0</span><span>{_fmt(top)}</span></figcaption></figure>')


# ---------------------------------------------------------------- the page

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 78em; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; margin: .8em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #555; } .students a { margin-right: .5em; white-space: nowrap; }
code.reason { white-space: pre-wrap; }
.pair { margin: 1em 0; } .side { display: grid; grid-template-columns: 1fr 1fr; gap: .5em; }
.side pre { background: #fafafa; border: 1px solid #ddd; margin: .2em 0; padding: .3em .5em;
            font-size: .8em; white-space: pre-wrap; overflow-wrap: anywhere; }
mark { background: #ffe08a; }
figure.hist { margin: 0; display: inline-block; } figure.hist img { display: block; }
figure.hist figcaption { display: flex; justify-content: space-between; font-size: .7em; color: #555; } details { margin: .4em 0; } summary { cursor: pointer; }
"""


def student_link(student, grades_dir):
    """The student's id, linked to its feedback page when there is one."""
    folder = None if grades_dir is None else student_dir(grades_dir, student)
    if folder is not None and (folder / FEEDBACK_NAME).is_file():
        return f'<a href="{text(quote(folder.name, safe="") + "/" + FEEDBACK_NAME)}">{text(student)}</a>'
    return text(student)


def _fmt(x):
    return f'{x:.4g}'


def incidents_html(found, link):
    if not found:
        return '<p>No student ran out of time, broke a rule or failed to be graded.</p>'
    rows = ''.join(f'<tr><td>{link(i.student)}</td><td>{text(i.kind)}</td>'
                   f'<td>{text(", ".join(i.items))}</td><td><code class="reason">{text(i.reason)}</code></td></tr>'
                   for i in found)
    return (f'<table id="incidents"><thead><tr><th>Student</th><th>What</th><th>Items</th>'
            f'<th>Reason (the first item\'s)</th></tr></thead><tbody>{rows}</tbody></table>')


def items_html(stats):
    rows = []
    for s in stats:
        picture = img(histogram(s.scores, s.max_score), f'scores of {s.item}', s.max_score)
        rows.append(f'<tr id="item-{text(s.item)}"><td>{text(s.item)}</td><td>{picture}</td>'
                    f'<td class="num">{_fmt(s.mean)} / {_fmt(s.max_score)}</td>'
                    f'<td class="num full">{s.full}</td><td class="num partial">{s.partial}</td>'
                    f'<td class="num zero">{s.zero}</td><td class="num">{_fmt(s.lost)}</td></tr>')
    return ('<table id="items"><thead><tr><th>Item</th><th>Scores</th><th>Mean</th><th>Full marks</th>'
            '<th>Partial</th><th>Nothing</th><th>Points lost</th></tr></thead><tbody>'
            + ''.join(rows) + '</tbody></table>')


def reasons_html(reasons, link):
    if not reasons:
        return '<p>No points were lost.</p>'
    rows = []
    for r in reasons[:MAX_REASONS]:
        cause = f'<br><span class="note">caused by {text(r.caused_by)}</span>' if r.caused_by else ''
        links = ' '.join(link(s) for s in sorted(r.lost))
        students = (f'<details><summary>{len(r.lost)} students</summary>{links}</details>'
                    if len(r.lost) > 12 else links)
        rows.append(f'<tr class="reason"><td>{text(r.item)}</td><td><code class="reason">{text(r.shown)}</code>'
                    f'{cause}</td><td class="num count">{len(r.lost)}</td>'
                    f'<td class="num">{_fmt(sum(r.lost.values()))}</td><td class="students">{students}</td></tr>')
    more = (f'<p class="note">{len(reasons) - MAX_REASONS} rarer reasons are not shown.</p>'
            if len(reasons) > MAX_REASONS else '')
    return ('<table id="reasons"><thead><tr><th>Item</th><th>Reason (# stands for numbers that vary)</th>'
            '<th>Students</th><th>Points lost</th><th>Who</th></tr></thead><tbody>'
            + ''.join(rows) + '</tbody></table>' + more)


def marked(unit, spans):
    """A unit of code as HTML, the spans the other student shares in <mark>."""
    out, at = [], 0
    for start, end in sorted(spans):
        start = max(start, at)
        if end <= start:
            continue
        out.append(text(unit[at:start]) + '<mark>' + text(unit[start:end]) + '</mark>')
        at = end
    return ''.join(out) + text(unit[at:])


def pair_html(rank, pair, link):
    """Two rows: the pair, its score and shares; below, its shared passages
    side by side (folded), each module's units of both students."""
    column = lambda units: ''.join(f'<pre>{marked(u, spans)}</pre>' for u, spans in units)
    sides = ''.join(f'<h4>{text(p.module)}.py</h4><div class="side"><div>{column(p.units_a)}</div>'
                    f'<div>{column(p.units_b)}</div></div>' for p in pair.passages)
    return (f'<tr class="pair"><td class="num">{rank}</td><td>{link(pair.a)}</td><td>{link(pair.b)}</td>'
            f'<td class="num score">{pair.score:.2f}</td><td class="num">{pair.share_a:.2f} / {pair.share_b:.2f}'
            f'</td></tr><tr class="passages"><td></td><td colspan="4"><details><summary>shared passages, '
            f'side by side ({len(pair.passages)} modules)</summary><div class="side"><b>{text(pair.a)}</b>'
            f'<b>{text(pair.b)}</b></div>{sides}</details></td></tr>')


def similarity_html(found, link):
    if found is None:
        return ('<p class="note">Not computed: the submitted code was not at hand (rebuild with '
                '<code>python -m autograder report GRADES --submissions SUBMITTED</code>).</p>')
    above = int((found.scores >= found.threshold).sum()) if len(found.scores) else 0
    intro = (f'<p>{len(found.students)} students with written code, {len(found.scores)} pairs compared; '
             f'{above} pairs at or above the threshold {found.threshold:g}. A pair\'s score is the larger '
             f'of its two shares: the fraction of one student\'s written code (the release\'s code '
             f'never counts; names do not matter) that the other\'s also has. Similar code is a reason '
             f'to read both, nothing more.</p>')
    picture = img(histogram(found.scores, 1.0, bins=20, width=4, height=1, mark=found.threshold),
                  'scores of every pair (the threshold in red)', 1) if len(found.scores) else ''
    if not found.pairs:
        return intro + picture + '<p id="no-pairs">No pair is above the threshold.</p>'
    rows = ''.join(pair_html(k + 1, pair, link) for k, pair in enumerate(found.pairs))
    more = (f'<p class="note">{above - len(found.pairs)} more pairs are above the threshold: raise it '
            f'to see the most similar only.</p>' if above > len(found.pairs) else '')
    return (intro + picture + '<table id="pairs"><thead><tr><th>#</th><th>Student</th><th>Student</th>'
            '<th>Score</th><th>Shares (of each one\'s written code)</th></tr></thead><tbody>'
            + rows + '</tbody></table>' + more)


def render(results_by_student, errors, found=None, grades_dir=None, assignment='nn_from_scratch'):
    """The class page as an HTML string. found: a similarity.Similarity, or None
    when the submitted code was not available."""
    link = lambda student: student_link(student, grades_dir)
    totals = [float(r['score']) for r in results_by_student.values()]
    top = max([float(r['max_score']) for r in results_by_student.values()] or [100])
    mean = sum(totals) / len(totals) if totals else 0.0
    summary = (f'<p>{len(results_by_student)} students graded (mean total {_fmt(mean)} / {_fmt(top)}), '
               f'{len(errors)} not graded.</p>'
               + (img(histogram(totals, top, bins=20, width=4, height=1), 'totals', top) if totals else ''))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Class report: {text(assignment)}</title><style>{STYLE}</style></head>
<body>
<h1>Class report: {text(assignment)}</h1>
<section id="summary">{summary}</section>
<h2 id="look">Students to look at</h2>
{incidents_html(incidents(results_by_student, errors), link)}
<h2 id="items-head">Items, by points lost in the class</h2>
{items_html(item_stats(results_by_student))}
<h2 id="reasons-head">Why points were lost</h2>
{reasons_html(lost_reasons(results_by_student), link)}
<h2 id="similar">Similar submissions</h2>
{similarity_html(found, link)}
</body></html>
"""


# ---------------------------------------------------------------- the files

def graded_sources(entries, results_by_student):
    """{student: {module: bytes}} of the intake entries whose code is the one
    their results graded (the same digest): a resubmission since is left out."""
    from .isolation.intake import digest
    return {e.student: e.packed['sources'] for e in entries
            if e.packed is not None and e.student in results_by_student
            and (results_by_student[e.student].get('grading') or {}).get('submission') == digest(e.packed)}


def write_class_report(out_dir, results_by_student, errors, sources=None, modules=None,
                       threshold=similarity.DEFAULT_THRESHOLD):
    """Write out_dir/class.html; returns its path. sources: {student: {module:
    source}} (None: no similarity section); modules: the student modules
    (default the rubric's)."""
    found = None
    if sources is not None:
        from .rubric import student_modules
        try:
            release = similarity.release_sources(modules or student_modules())
        except OSError:          # a grader without the course's release: no similarity
            release = None
        if release is not None:
            found = similarity.similar_pairs(sources, release, threshold, max_pairs=MAX_PAIRS)
    path = Path(out_dir) / CLASS_NAME
    write_text_atomic(path, render(results_by_student, errors, found, grades_dir=out_dir))
    return path


def read_grades(grades_dir, rubric):
    """(results_by_student, errors) from a grades folder as grade-all writes it."""
    results, errors = {}, {}
    for folder in sorted(p for p in Path(grades_dir).iterdir() if p.is_dir()):
        found = read_results(folder / RESULTS_NAME, rubric)
        error = folder / ERROR_NAME
        if found is not None:
            results[student_of(folder)] = found
        if error.is_file():
            errors[student_of(folder)] = error.read_text(errors='replace').strip()
    return results, errors


def rebuild(grades_dir, submissions_dir=None, threshold=similarity.DEFAULT_THRESHOLD, rubric=RUBRIC):
    """Write grades_dir/class.html again from the results there and, for the
    similar submissions, the code in submissions_dir (None: the `submitted`
    folder beside grades_dir, when there is one). Returns its path."""
    from .isolation.intake import scan_class
    from .rubric import load_rubric, student_modules
    rubric = load_rubric(rubric)
    results, errors = read_grades(grades_dir, rubric)
    if submissions_dir is None and (Path(grades_dir).resolve().parent / 'submitted').is_dir():
        submissions_dir = Path(grades_dir).resolve().parent / 'submitted'
    sources = None
    if submissions_dir is not None:
        entries, _ = scan_class(submissions_dir, student_modules(rubric), exclude=[grades_dir])
        sources = graded_sources(entries, results)
    return write_class_report(grades_dir, results, errors, sources, student_modules(rubric), threshold)
