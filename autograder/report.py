"""A student's feedback page: one self-contained HTML file per graded submission.

It shows the total, a table of points per item, and under each item what
passed, what failed and why. It is built from the results dict alone
(Gradescope's results.json schema, with `number` naming each test's item),
so it can show nothing the grader did not already decide to tell.
"""
import html
from collections import OrderedDict

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.6em; } .total { font-size: 1.3em; margin: .5em 0 1em; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2em; }
th, td { border: 1px solid #ccc; padding: .35em .6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.full td.status { color: #176f2c; } tr.partial td.status { color: #a35b00; }
tr.zero td.status { color: #b00020; }
.test { margin: .2em 0; } .pass { color: #176f2c; } .fail { color: #b00020; }
pre { white-space: pre-wrap; background: #fafafa; border-left: 3px solid #ccc; margin: .2em 0 .6em;
      padding: .3em .6em; }
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


def render(results, student='', assignment='nn_from_scratch'):
    """The feedback page of one submission, as an HTML string."""
    esc = html.escape
    groups = group_tests(results)
    items = results.get('items') or {
        item: {'score': sum(t['score'] for t in tests), 'max_score': sum(t['max_score'] for t in tests)}
        for item, tests in groups.items()}
    rows, details = [], []
    for item, points in items.items():
        cls, word = _status(points['score'], points['max_score'])
        rows.append(f'<tr class="{cls}"><td><a href="#{esc(item)}">{esc(item)}</a></td>'
                    f'<td class="num">{_fmt(points["score"])}</td>'
                    f'<td class="num">{_fmt(points["max_score"])}</td>'
                    f'<td class="status">{word}</td></tr>')
        lines = []
        for test in groups.get(item, []):
            ok = test['score'] >= test['max_score']
            mark = '<span class="pass">&#10004; passed</span>' if ok else \
                '<span class="fail">&#10008; failed</span>'
            lines.append(f'<div class="test">{mark} {esc(test["name"])} '
                         f'({_fmt(test["score"])} / {_fmt(test["max_score"])})</div>')
            if test.get('output') and not ok:
                lines.append(f'<pre>{esc(test["output"])}</pre>')
        details.append(f'<h3 id="{esc(item)}">{esc(item)}: {_fmt(points["score"])} / '
                       f'{_fmt(points["max_score"])}</h3>' + ''.join(lines))
    warning = ''
    if results.get('warning'):
        warning = f'<div class="warning">{esc(results["warning"])}</div>'
    who = f' for {esc(student)}' if student else ''
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Feedback{who}: {esc(assignment)}</title><style>{STYLE}</style></head>
<body>
<h1>Feedback{who}: {esc(assignment)}</h1>
{warning}<div class="total">Total: <b>{_fmt(results['score'])} / {_fmt(results['max_score'])}</b></div>
<table id="scores"><thead><tr><th>Item</th><th>Score</th><th>Max</th><th>Status</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<h2>Details</h2>
{chr(10).join(details)}
</body></html>
"""
