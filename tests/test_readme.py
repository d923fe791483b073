"""The README and the docs point only inside the repository; the README says where every log lives
and links the page of differences from Ray, each of whose sections says something."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
COMPAT_PAGE = "docs/ray-compatibility.md"
_PATHS = r"`((?:docs|tools|configs|examples|plugins|zipapp|tests|edgeray)/[^`\s]*)`"


def test_the_readme_names_no_file_outside_the_repository() -> None:
    assert "../" not in README
    for path in re.findall(_PATHS, README):
        if "<" not in path and "*" not in path:
            assert (ROOT / path.rstrip("/")).exists(), path


def test_no_doc_names_a_file_outside_the_repository() -> None:
    for doc in sorted((ROOT / "docs").glob("*.md")):
        assert "../" not in doc.read_text(), doc.name
    for path in re.findall(_PATHS, (ROOT / COMPAT_PAGE).read_text()):
        if "<" not in path and "*" not in path:
            assert (ROOT / path.rstrip(":/")).exists(), path


def _sections(markdown: str) -> dict[str, str]:
    """Each ``## `` heading of ``markdown`` (outside code blocks) -> the text up to the next heading."""
    sections: dict[str, str] = {}
    heading: str | None = None
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"#{1,6} ", line):
            heading = line[3:].strip() if line.startswith("## ") else None
            if heading is not None:
                assert heading not in sections, f"two sections named {heading!r}"
                sections[heading] = ""
        elif heading is not None:
            sections[heading] += line + "\n"
    return sections


def test_every_difference_from_ray_has_a_body() -> None:
    sections = _sections((ROOT / COMPAT_PAGE).read_text())
    assert len(sections) >= 20, sorted(sections)
    for heading, body in sections.items():
        prose = [line for line in body.splitlines() if re.search(r"[A-Za-z]{3}", line)]
        assert prose, f"{COMPAT_PAGE}: the section {heading!r} is empty"
        assert "Ray" in body, f"{COMPAT_PAGE}: the section {heading!r} does not say what Ray does"


def test_the_sections_parser_sees_an_emptied_section() -> None:
    sections = _sections("# Group\n\n## Full\n\nRay does A; edgeray does B.\n\n## Emptied\n\n## Next\n\ntext\n")
    assert sections["Emptied"].strip() == "" and "edgeray does B" in sections["Full"]


def test_the_readme_links_the_differences_from_ray() -> None:
    section = README.split("## Where we differ from Ray on purpose\n", 1)[1].split("\n## ", 1)[0]
    assert COMPAT_PAGE in section
    assert (ROOT / COMPAT_PAGE).is_file()


def test_the_readme_says_where_the_logs_are() -> None:
    section = README.split("## Where the logs are", 1)[1].split("\n## ", 1)[0]
    for where in ("node.log", "nodes/<node id>/logs/worker-<worker id>.out", "max_bytes", "backup_count", "--block", "edgeray.init()"):
        assert where in section, where
