"""The shipped model pack names data sets and runs, never the folders of the machine that trained it:
a user reads the manifest and card of every model (checked on whatever resources/models holds)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACK = Path(__file__).resolve().parents[1] / "resources" / "models"
# "/x/y" or "C:\x" not inside a URL or a relative path: the shape of a machine's absolute path.
ABSOLUTE = re.compile(r"(?<![\w.~:/-])(?:/[\w.~-]+/[\w.~-]+|[A-Za-z]:\\[\w.~-])")
TEXTS = sorted(PACK.glob("*.json")) + sorted(PACK.glob("*.md"))


@pytest.mark.skipif(not TEXTS, reason="no model pack in resources/models")
@pytest.mark.parametrize("path", TEXTS, ids=[p.name for p in TEXTS])
def test_no_absolute_path_in_a_shipped_manifest_or_card(path):
    found = ABSOLUTE.findall(path.read_text(encoding="utf-8"))
    assert found == [], f"{path.name} names folders of the training machine: {found[:5]}"
