"""The docs hold together: links resolve, and reference pages keep dated runs in the log."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
DOCS_PATH = re.compile(r"`(docs/[\w./-]+)")
DATED_HEADING = re.compile(r"^#+ .*\b20\d\d-\d\d-\d\d", re.M)


def _broken(page: pathlib.Path) -> list[str]:
    text = page.read_text()
    out = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL, or an anchor in the same page
        if not (page.parent / target.split("#")[0]).exists():
            out.append(f"{page.relative_to(ROOT)} -> {target}")
    for path in DOCS_PATH.findall(text):
        if not (ROOT / path.split("#")[0]).exists():
            out.append(f"{page.relative_to(ROOT)} names {path}")
    return out


def test_every_relative_link_and_docs_path_resolves() -> None:
    assert [b for page in PAGES for b in _broken(page)] == []


def test_reference_pages_have_no_dated_sections() -> None:
    # Dated runs live in docs/measurements/; docs/benchmarks.md is the generated report.
    reference = [p for p in DOCS.glob("*.md") if p.name not in ("benchmarks.md", "README.md")]
    dated = {p.name: DATED_HEADING.findall(p.read_text()) for p in reference}
    assert {name: h for name, h in dated.items() if h} == {}


def test_every_measurements_page_is_listed_in_the_docs_index() -> None:
    index = (DOCS / "README.md").read_text()
    logs = sorted(p.stem for p in (DOCS / "measurements").glob("*.md"))
    pages_with_a_log = [p for p in logs if (DOCS / f"{p}.md").exists()]
    assert all(f"[`{p}.md`]({p}.md)" in index for p in pages_with_a_log)
    assert all(p in index for p in logs)
