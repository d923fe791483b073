"""The README points only inside the repository and says where every log lives."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_readme_names_no_file_outside_the_repository() -> None:
    assert "../" not in README
    for path in re.findall(r"`((?:docs|tools|configs|examples|plugins|zipapp|tests|edgeray)/[^`\s]*)`", README):
        if "<" not in path and "*" not in path:
            assert (ROOT / path.rstrip("/")).exists(), path


def test_the_readme_says_where_the_logs_are() -> None:
    section = README.split("## Where the logs are", 1)[1].split("\n## ", 1)[0]
    for where in ("node.log", "nodes/<node id>/logs/worker-<worker id>.log", "--block", "edgeray.init()"):
        assert where in section, where
