
# Hostile: plant fake results wherever a grader might look, at import and in a call.
import json as _json
import os as _os

_FAKE = _json.dumps({'score': 100, 'max_score': 100, 'tests': []})


def _plant():
    here = _os.path.dirname(_os.path.abspath(__file__))
    places = ['.', '..', '../..', '/tmp', here, _os.path.dirname(here), '@SUBMISSION@',
              '@SUBMISSION@/scratchnn', '@REPO@']
    for place in places:
        for name in ('results.json', 'hostile_was_here.txt'):
            try:
                with open(_os.path.join(place, name), 'w') as f:
                    f.write(_FAKE)
            except OSError:
                pass


_plant()
_honest_sgd = sgd


def sgd(w, dw, config=None):
    _plant()
    return _honest_sgd(w, dw, config)
