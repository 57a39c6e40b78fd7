"""A student's feedback page: one self-contained HTML file per graded submission.

First things first: the total, then every item that lost points, each with the
reason of every failed test and, where the grader says another item caused the
failure (a test's "caused_by": item id), a link to that item; the items with
full marks and the table of all scores are folded below. It is built from the
results dict alone (Gradescope's results.json schema, with `number` naming
each test's item), so it can show nothing the grader did not already decide
to tell. nbgrader's feedback pages get the same first part, per notebook
(`lost_points_html`, used by autograder/integrations/nbgrader_plugin.py).
"""
import html
from collections import OrderedDict

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
section.item { margin-bottom: 1.2em; }
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


def cause(tests, item):
    """The other item that a failed test of `item` says caused its failure, or None."""
    return next((t['caused_by'] for t in tests if failed(t) and t.get('caused_by') not in (None, item)), None)


def first_things_first(results, items=None):
    """(lost, full): the ids of the items (all, or those in `items`) that lost
    points and of those with full marks. Lost items whose failure another lost
    item caused come after the others: fix the cause first."""
    points, tests = item_points(results), group_tests(results)
    chosen = [item for item in points if items is None or item in items]
    lost = [item for item in chosen if points[item]['score'] < points[item]['max_score']]
    full = [item for item in chosen if item not in lost]
    caused = [item for item in lost if cause(tests.get(item, []), item) in lost]
    return [item for item in lost if item not in caused] + caused, full


def reason(test):
    """The first line of a failed test's message."""
    lines = [line.strip() for line in str(test.get('output') or '').splitlines() if line.strip()]
    return lines[0] if lines else 'failed'


def _cause_html(tests, item, href):
    other = cause(tests, item)
    if other is None:
        return ''
    return (f'<div class="cause">Caused by <a href="{html.escape(href(other))}">{html.escape(other)}</a>: '
            f'fix that item first, then this one may pass too.</div>')


def _test_line(test):
    ok = not failed(test)
    mark = '<span class="pass">&#10004; passed</span>' if ok else '<span class="fail">&#10008; failed</span>'
    line = (f'<div class="test">{mark} {html.escape(test["name"])} '
            f'({_fmt(test["score"])} / {_fmt(test["max_score"])})</div>')
    if test.get('output') and not ok:
        line += f'<pre>{html.escape(str(test["output"]))}</pre>'
    return line


def item_section(item, points, tests, href):
    """One item: its score, its failed tests with their messages, the item that
    caused them, and its passed tests folded."""
    esc = html.escape
    bad = [t for t in tests if failed(t)]
    good = [t for t in tests if not failed(t)]
    passed = ''
    if good and bad:
        passed = (f'<details><summary>{len(good)} passed test{"s" * (len(good) != 1)}</summary>'
                  + ''.join(_test_line(t) for t in good) + '</details>')
    elif good:
        passed = ''.join(_test_line(t) for t in good)
    return (f'<section class="item" id="{esc(item)}"><h3>{esc(item)}: {_fmt(points["score"])} / '
            f'{_fmt(points["max_score"])}</h3>' + _cause_html(tests, item, href)
            + ''.join(_test_line(t) for t in bad) + passed + '</section>')


def lost_points_html(results, items=None, href=lambda item: f'#{item}'):
    """A compact summary, first things first: the items (all, or those in
    `items`) that lost points, each with a link (href(item)) and its first
    reason, then the items with full marks folded. For nbgrader's feedback
    pages, whose notebook cells hold the details."""
    esc = html.escape
    points, tests = item_points(results), group_tests(results)
    lost, full = first_things_first(results, items)
    rows = []
    for item in lost:
        first = next((t for t in tests.get(item, []) if failed(t)), None)
        why = f': {esc(reason(first))}' if first is not None else ''
        rows.append(f'<li><a href="{esc(href(item))}">{esc(item)}</a> '
                    f'({_fmt(points[item]["score"])} / {_fmt(points[item]["max_score"])}){why}'
                    + _cause_html(tests.get(item, []), item, href) + '</li>')
    head = (f'<h3>Points lost in {len(lost)} item{"s" * (len(lost) != 1)}</h3><ul>{"".join(rows)}</ul>'
            if lost else '<h3>Full marks on every item</h3>')
    passes = ''.join(f'<li><a href="{esc(href(item))}">{esc(item)}</a> '
                     f'({_fmt(points[item]["score"])} / {_fmt(points[item]["max_score"])})</li>' for item in full)
    folded = (f'<details><summary>Full marks: {len(full)} item{"s" * (len(full) != 1)}</summary>'
              f'<ul>{passes}</ul></details>') if full and lost else ''
    return f'<div class="first-things-first">{head}{folded}</div>'


def render(results, student='', assignment='nn_from_scratch'):
    """The feedback page of one submission, as an HTML string."""
    esc = html.escape
    groups, points = group_tests(results), item_points(results)
    lost, full = first_things_first(results)
    href = lambda item: f'#{item}'
    sections = lambda ids: '\n'.join(item_section(i, points[i], groups.get(i, []), href) for i in ids)
    rows = []
    for item, p in points.items():
        cls, word = _status(p['score'], p['max_score'])
        rows.append(f'<tr class="{cls}"><td><a href="#{esc(item)}">{esc(item)}</a></td>'
                    f'<td class="num">{_fmt(p["score"])}</td><td class="num">{_fmt(p["max_score"])}</td>'
                    f'<td class="status">{word}</td></tr>')
    lost_part = (f'<h2 id="lost">Points lost in {len(lost)} item{"s" * (len(lost) != 1)}</h2>\n{sections(lost)}'
                 if lost else '<h2 id="lost">Full marks on every item</h2>')
    full_part = (f'<details id="full"><summary>Full marks: {len(full)} item{"s" * (len(full) != 1)}</summary>\n'
                 f'{sections(full)}\n</details>') if full else ''
    warning = f'<div class="warning">{esc(results["warning"])}</div>' if results.get('warning') else ''
    who = f' for {esc(student)}' if student else ''
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Feedback{who}: {esc(assignment)}</title><style>{STYLE}</style></head>
<body>
<h1>Feedback{who}: {esc(assignment)}</h1>
{warning}<div class="total">Total: <b>{_fmt(results['score'])} / {_fmt(results['max_score'])}</b></div>
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
