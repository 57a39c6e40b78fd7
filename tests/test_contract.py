"""The package contract: docs/companion-api.md is the project's copy of the
course's shared contract, ../shared/companion-api.md beside the repository
(where the course keeps one), and must stay identical to it."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COPY = REPO / 'docs' / 'companion-api.md'
SHARED = REPO.parent / 'shared' / 'companion-api.md'


@pytest.mark.skipif(not SHARED.is_file(), reason=f"no shared contract at {SHARED} beside this "
                    "clone: docs/companion-api.md is the contract here")
def test_docs_contract_is_the_shared_contract():
    assert COPY.read_text() == SHARED.read_text(), (
        f"{COPY} differs from {SHARED}: copy the shared contract over it (cp {SHARED} {COPY})")


def test_contract_states_what_the_optimizer_items_grade():
    """The suites grade the update rules as this paragraph says (tests/variants/optim.py)."""
    text = COPY.read_text()
    assert 'Only the returned `next_w` and the state keys of the returned `config` are' in text
    assert 'config.get(key, default)' in text and '`dw` is never modified.' in text
