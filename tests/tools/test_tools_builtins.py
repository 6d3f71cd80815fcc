"""The clock and the knowledge-base search."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tools import KnowledgeBase, ToolDefinitionError, ToolRegistry, clock
from tools._builtins import make_clock
from tools._kb import split_passages

FIXED = dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)  # DST starts in Europe at 01:00 UTC


@pytest.fixture
def fixed_clock_registry() -> ToolRegistry:
    return ToolRegistry([make_clock(lambda: FIXED)])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("timezone", "expected"),
    [
        ("UTC", "2026-03-29T00:30:00+00:00"),
        ("Europe/Paris", "2026-03-29T01:30:00+01:00"),
        ("Asia/Kolkata", "2026-03-29T06:00:00+05:30"),
        ("America/New_York", "2026-03-28T20:30:00-04:00"),
    ],
)
async def test_clock_in_fixed_timezones(
    fixed_clock_registry: ToolRegistry, timezone: str, expected: str
) -> None:
    result = await fixed_clock_registry.execute("c", "clock", json.dumps({"timezone": timezone}))
    assert result.ok and result.content == expected
    assert dt.datetime.fromisoformat(result.content) == FIXED


@pytest.mark.anyio
async def test_clock_defaults_to_utc(fixed_clock_registry: ToolRegistry) -> None:
    result = await fixed_clock_registry.execute("c", "clock", "{}")
    assert result.content == "2026-03-29T00:30:00+00:00"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "timezone",
    # "Europe" is a folder of tzdata and a 300-character name is too long for the file
    # system: both raised OSError out of the registry before.
    ["Mars/Olympus_Mons", "", "../../etc/passwd", "Europe", "a" * 300],
)
async def test_clock_unknown_timezone_is_validation(timezone: str) -> None:
    result = await ToolRegistry([clock]).execute("c", "clock", json.dumps({"timezone": timezone}))
    assert (result.ok, result.error) == (False, "validation")
    assert "IANA timezone" in result.content


@pytest.mark.anyio
async def test_real_clock_is_aware_and_current() -> None:
    before = dt.datetime.now(dt.UTC)
    result = await ToolRegistry([clock]).execute("c", "clock", '{"timezone": "Asia/Tokyo"}')
    after = dt.datetime.now(dt.UTC)
    moment = dt.datetime.fromisoformat(result.content)
    assert moment.utcoffset() == dt.timedelta(hours=9)
    assert before.replace(microsecond=0) <= moment <= after


DOCS = {
    "refunds.md": (
        "# Refunds\n\nRefunds are issued within 5 business days to the original card.\n\n"
        "## Exceptions\n\nGift cards cannot be refunded.\n"
    ),
    "shipping.md": (
        "# Shipping\n\nStandard shipping takes 3 to 7 days.\n\n"
        "Express shipping arrives next day for orders before noon.\n\n"
        "```bash\n# not a heading\n\ncurl example\n```\n"
    ),
    "notes/faq.txt": "Opening hours are 9 to 17.\n\nThe support phone line is closed on Sundays.\n",
    "ignored.json": '{"refunds": "should not be indexed"}',
}


@pytest.fixture
def kb_folder(tmp_path: Path) -> Path:
    for name, text in DOCS.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_split_passages_by_heading_paragraph_and_fence() -> None:
    passages = split_passages(DOCS["shipping.md"], "shipping.md", max_chars=10)
    assert [p.heading for p in passages] == ["Shipping"] * 3
    assert passages[0].text == "Standard shipping takes 3 to 7 days."
    assert passages[2].text.startswith("```bash\n# not a heading\n\ncurl")
    merged = split_passages(DOCS["shipping.md"], "shipping.md", max_chars=1000)
    assert len(merged) == 1 and "Express" in merged[0].text


def test_kb_loads_md_and_txt_recursively(kb_folder: Path) -> None:
    kb = KnowledgeBase.from_folder(kb_folder)
    sources = {p.source for p in kb.passages}
    assert sources == {"refunds.md", "shipping.md", "notes/faq.txt"}
    headings = {p.heading for p in kb.passages if p.source == "refunds.md"}
    assert headings == {"Refunds", "Exceptions"}


@pytest.mark.parametrize(
    ("query", "source", "needle"),
    [
        ("how long do refunds take", "refunds.md", "5 business days"),
        ("express shipping next day", "shipping.md", "Express"),
        ("is the phone line open on sunday", "notes/faq.txt", "Sundays"),
        ("gift card refund", "refunds.md", "Gift cards"),
    ],
)
def test_kb_ranks_the_relevant_passage_first(
    kb_folder: Path, query: str, source: str, needle: str
) -> None:
    hits = KnowledgeBase.from_folder(kb_folder).search(query, k=3)
    assert hits[0].source == source and needle in hits[0].text
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_kb_returns_nothing_without_overlap(kb_folder: Path) -> None:
    kb = KnowledgeBase.from_folder(kb_folder)
    assert kb.search("quantum chromodynamics") == []
    assert kb.search("the of and") == []  # only stopwords
    assert KnowledgeBase([]).search("refunds") == []


def test_kb_missing_folder_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(ToolDefinitionError, match="not found"):
        KnowledgeBase.from_folder(tmp_path / "missing")


@pytest.mark.anyio
async def test_kb_tool_returns_json_hits_and_validates_k(kb_folder: Path) -> None:
    kb_tool = KnowledgeBase.from_folder(kb_folder).as_tool()
    params = kb_tool.openai_schema()["function"]["parameters"]
    assert params["required"] == ["query"]
    assert params["properties"]["k"]["default"] == 3
    registry = ToolRegistry([kb_tool])
    result = await registry.execute("c", "kb_search", '{"query": "shipping days", "k": 2}')
    hits = json.loads(result.content)
    assert result.ok and 1 <= len(hits) <= 2
    assert set(hits[0]) == {"source", "heading", "text", "score"}
    assert hits[0]["source"] == "shipping.md"
    bad = await registry.execute("c", "kb_search", '{"query": "x", "k": 0}')
    assert bad.error == "validation"
    huge = await registry.execute("c", "kb_search", json.dumps({"query": "refund " * 150_000}))
    assert huge.error == "validation" and "at most 2000 characters" in huge.content
    assert huge.elapsed_ms < 1000  # refused before searching (a 1 MB query took 2.5 s)
