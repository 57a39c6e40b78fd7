"""A student's feedback page: one self-contained HTML file per graded submission.

First things first: the total, then every item that lost points to a real
failure, one line each with its first reason and, where the grader says
another item caused the failure (a test's "caused_by": item id), a link to
that item, its tests folded under it; then the items not written yet, one
line each; the items with full marks and the table of all scores are folded
below. It is built from the results dict alone (Gradescope's results.json
schema, with `number` naming each test's item), so it can show nothing the
grader did not already decide to tell. nbgrader's feedback pages get the same first part, per notebook
(`lost_points_html`, used by autograder/integrations/nbgrader_plugin.py).
"""
import html
import re
from collections import OrderedDict

from .results import course_total

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.6em; } .total { font-size: 1.3em; margin: .5em 0 1em; }
table { border-collapse: collapse; width: 100%; margin: 1em 0 2em; }
th, td { border: 1px solid #ccc; padding: .35em .6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.full td.status { color: #176f2c; } tr.partial td.status { color: #a35b00; }
tr.zero td.status { color: #b00020; }
.test { margin: .2em 0; } .pass { color: #176f2c; } .fail { color: #b00020; }
pre { white-space: pre-wrap; background: #fafafa; border-left: 3px solid #ccc; margin: .2em 0 .6em;
      padding: .3em .6em; }
.cause { background: #eef4ff; border-left: 3px solid #6c8ebf; padding: .3em .6em; margin: .3em 0; }
details { margin: 1em 0; } summary { cursor: pointer; font-weight: 600; }
section.item { margin-bottom: .4em; } section.item details { margin: 0; }
ul.unwritten li { margin: .2em 0; }
.warning { background: #fff3cd; border: 1px solid #e0c36c; padding: .6em; margin-bottom: 1em; }
"""


def _fmt(points):
    return f"{points:g}"


def _status(score, max_score):
    if max_score and score >= max_score:
        return 'full', 'passed'
    return ('partial', 'partly failed') if score > 0 else ('zero', 'failed')


def group_tests(results):
    """OrderedDict item id -> list of that item's test entries, in results order."""
    groups = OrderedDict()
    for test in results.get('tests', []):
        groups.setdefault(test.get('number', test['name']), []).append(test)
    return groups


def item_points(results):
    """OrderedDict item id -> {'score', 'max_score'}, in results order."""
    if results.get('items'):
        return OrderedDict(results['items'])
    return OrderedDict((item, {'score': sum(t['score'] for t in tests),
                               'max_score': sum(t['max_score'] for t in tests)})
                       for item, tests in group_tests(results).items())


def failed(test):
    return test['score'] < test['max_score']


def causes(tests, item):
    """The other items that failed tests of `item` say caused their failure,
    in the order they first appear (every cause, as results.json's item
    entry lists them)."""
    return list(dict.fromkeys(t['caused_by'] for t in tests
                              if failed(t) and t.get('caused_by') not in (None, item)))


# How the sandbox words a call of a stub (autograder/isolation/executor.py):
# "layers.Linear.forward: not implemented (Implement ... in scratchnn/layers.py)"
NOT_IMPLEMENTED = ': not implemented ('


def not_written(tests):
    """Whether an item's tests failed only because a function is not written yet."""
    bad = [t for t in tests if failed(t)]
    return bool(bad) and all(NOT_IMPLEMENTED in str(t.get('output') or '') for t in bad)


def first_things_first(results, items=None):
    """(lost, unwritten, full): the ids of the items (all, or those in `items`)
    that lost points to a real failure, of those that lost them because a
    function is not written yet, and of those with full marks. Lost items whose
    failure another lost item caused come after the others: fix the cause first."""
    points, tests = item_points(results), group_tests(results)
    chosen = [item for item in points if items is None or item in items]
    lost = [item for item in chosen if points[item]['score'] < points[item]['max_score']]
    full = [item for item in chosen if item not in lost]
    unwritten = [item for item in lost if not_written(tests.get(item, []))]
    lost = [item for item in lost if item not in unwritten]
    caused = [item for item in lost if any(c in lost for c in causes(tests.get(item, []), item))]
    return [item for item in lost if item not in caused] + caused, unwritten, full


def first_failure(tests):
    """The first failed test of tests, or None."""
    return next((t for t in tests if failed(t)), None)


def reason(test):
    """The first line of a failed test's message."""
    lines = [line.strip() for line in str(test.get('output') or '').splitlines() if line.strip()]
    return lines[0] if lines else 'failed'


def _cause_html(tests, item, href):
    others = causes(tests, item)
    if not others:
        return ''
    links = ', '.join(f'<a href="{html.escape(href(other))}">{html.escape(other)}</a>' for other in others)
    that = 'that item' if len(others) == 1 else 'those items'
    return (f'<div class="cause">Caused by {links}: '
            f'fix {that} first, then this one may pass too.</div>')


def _test_line(test):
    ok = not failed(test)
    mark = '<span class="pass">&#10004; passed</span>' if ok else '<span class="fail">&#10008; failed</span>'
    line = (f'<div class="test">{mark} {html.escape(test["name"])} '
            f'({_fmt(test["score"])} / {_fmt(test["max_score"])})</div>')
    if test.get('output') and not ok:
        line += f'<pre>{html.escape(str(test["output"]))}</pre>'
    return line


def _plural(n, word):
    return f'{n} {word}{"s" * (n != 1)}'


def _item_line(item, points, tests, href, with_cause=True):
    """'item (score / max): first reason' with a link to the item, and (with_cause)
    the item that caused it."""
    esc = html.escape
    first = first_failure(tests)
    why = f': {esc(reason(first))}' if first is not None else ''
    return (f'<a href="{esc(href(item))}">{esc(item)}</a> '
            f'({_fmt(points["score"])} / {_fmt(points["max_score"])}){why}'
            + (_cause_html(tests, item, href) if with_cause else ''))


def item_section(item, points, tests, href):
    """One item, folded: its score and first reason on one line; unfolded, the
    item that caused its failure, its failed tests with their messages, and its
    passed tests folded."""
    esc = html.escape
    bad = [t for t in tests if failed(t)]
    good = [t for t in tests if not failed(t)]
    passed = ''
    if good and bad:
        passed = (f'<details><summary>{_plural(len(good), "passed test")}</summary>'
                  + ''.join(_test_line(t) for t in good) + '</details>')
    elif good:
        passed = ''.join(_test_line(t) for t in good)
    why = f': {esc(reason(bad[0]))}' if bad else ''
    return (f'<section class="item" id="{esc(item)}"><details><summary>{esc(item)}: '
            f'{_fmt(points["score"])} / {_fmt(points["max_score"])}{why}</summary>'
            + _cause_html(tests, item, href) + ''.join(_test_line(t) for t in bad) + passed
            + '</details></section>')


def unwritten_html(ids, points, tests, href, heading='h2'):
    """The items not written yet: a heading and one line each, whatever the
    number of their tests (the reason names the function to write: no cause)."""
    if not ids:
        return ''
    esc = html.escape
    rows = ''.join((f'<li id="{esc(item)}">' if heading == 'h2' else '<li>')
                   + _item_line(item, points[item], tests.get(item, []), href, with_cause=False) + '</li>'
                   for item in ids)
    return (f'<{heading} id="unwritten">Not written yet: {_plural(len(ids), "item")}</{heading}>'
            f'<ul class="unwritten">{rows}</ul>')


def totals_html(results):
    """The total, and how it is made: the autograded points and the written
    questions' (graded by hand: pending until then)."""
    score, max_score = course_total(results)
    written = results.get('written')
    if not written or not written['max_score']:
        return f'<div class="total">Total: <b>{_fmt(score)} / {_fmt(max_score)}</b></div>'
    graded = 'pending' if written['score'] is None else _fmt(written['score'])
    return (f'<div class="total">Total: <b>{_fmt(score)} / {_fmt(max_score)}</b>: autograded '
            f'<b>{_fmt(results["score"])} / {_fmt(results["max_score"])}</b>, written questions '
            f'{graded} / {_fmt(written["max_score"])} (graded by hand)</div>')


def totals_text(results):
    """totals_html's sentence as plain text, for a terminal and Gradescope."""
    return re.sub(r'<[^>]+>', '', totals_html(results))


def lost_points_html(results, items=None, href=lambda item: f'#{item}'):
    """A compact summary, first things first: the items (all, or those in
    `items`) that lost points to a real failure, each with a link (href(item))
    and its first reason, then those not written yet, one line each, then the
    items with full marks folded. For nbgrader's feedback pages, whose
    notebook cells hold the details."""
    esc = html.escape
    points, tests = item_points(results), group_tests(results)
    lost, unwritten, full = first_things_first(results, items)
    rows = ''.join(f'<li>{_item_line(item, points[item], tests.get(item, []), href)}</li>' for item in lost)
    head = f'<h3>Points lost in {_plural(len(lost), "item")}</h3><ul>{rows}</ul>' if lost else ''
    head += unwritten_html(unwritten, points, tests, href, heading='h3')
    if not lost and not unwritten:
        head = '<h3>Full marks on every item</h3>'
    lost = lost + unwritten
    passes = ''.join(f'<li><a href="{esc(href(item))}">{esc(item)}</a> '
                     f'({_fmt(points[item]["score"])} / {_fmt(points[item]["max_score"])})</li>' for item in full)
    folded = (f'<details><summary>Full marks: {len(full)} item{"s" * (len(full) != 1)}</summary>'
              f'<ul>{passes}</ul></details>') if full and lost else ''
    return f'<div class="first-things-first">{head}{folded}</div>'


def render(results, student='', assignment='nn_from_scratch'):
    """The feedback page of one submission, as an HTML string."""
    esc = html.escape
    groups, points = group_tests(results), item_points(results)
    lost, unwritten, full = first_things_first(results)
    href = lambda item: f'#{item}'
    sections = lambda ids: '\n'.join(item_section(i, points[i], groups.get(i, []), href) for i in ids)
    rows = []
    for item, p in points.items():
        cls, word = _status(p['score'], p['max_score'])
        rows.append(f'<tr class="{cls}"><td><a href="#{esc(item)}">{esc(item)}</a></td>'
                    f'<td class="num">{_fmt(p["score"])}</td><td class="num">{_fmt(p["max_score"])}</td>'
                    f'<td class="status">{word}</td></tr>')
    lost_part = (f'<h2 id="lost">Points lost in {_plural(len(lost), "item")}</h2>\n{sections(lost)}'
                 if lost else '' if unwritten else '<h2 id="lost">Full marks on every item</h2>')
    lost_part += '\n' + unwritten_html(unwritten, points, groups, href)
    full_part = (f'<details id="full"><summary>Full marks: {len(full)} item{"s" * (len(full) != 1)}</summary>\n'
                 f'{sections(full)}\n</details>') if full else ''
    warning = f'<div class="warning">{esc(results["warning"])}</div>' if results.get('warning') else ''
    who = f' for {esc(student)}' if student else ''
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Feedback{who}: {esc(assignment)}</title><style>{STYLE}</style></head>
<body>
<h1>Feedback{who}: {esc(assignment)}</h1>
{warning}{totals_html(results)}
{lost_part}
{full_part}
<details id="all"><summary>All scores</summary>
<table id="scores"><thead><tr><th>Item</th><th>Score</th><th>Max</th><th>Status</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
</details>
</body></html>
"""
