"""Every link in README.md and docs/ leads somewhere: relative links to a file of the
repository (and, with ``#anchor``, to one of its Markdown headings); http(s) links are
well-formed (never fetched: the tests have no network)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from conftest import REPO

# Pages other branches are writing, linked from here before they are merged. Only these
# may be missing, and only as whole pages (no #anchor into them). Empty this list once
# they are merged: the last test below fails for an entry whose page exists.
ALLOWED_MISSING = {}

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def prose(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans blanked."""
    lines, inside = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            lines.append(re.sub(r"(`+)(?:(?!\1).)+\1", "``", line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed
    (letters, digits, '_', '-' and spaces kept), spaces made hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.replace("`", "").strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in ("L", "N"))
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    inside = False
    for line in path.read_text().splitlines():
        if FENCE.match(line):
            inside = not inside
            continue
        if inside or not (m := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            continue
        base = slug(m.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    return [m.group(1) for line in prose(path.read_text()) for m in LINK.finditer(line)]


def problem(page: Path, target: str) -> str | None:
    """Why ``target``, linked from ``page``, is broken; None when it is not."""
    parts = urlsplit(target)
    if parts.scheme in ("http", "https"):
        ok = parts.netloc and "." in parts.netloc and " " not in target
        return None if ok else "malformed URL"
    if parts.scheme or parts.netloc:
        return f"unexpected scheme {parts.scheme!r}"
    where = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
    if REPO.resolve() not in (where, *where.parents):
        return "outside the repository"
    name = where.relative_to(REPO.resolve()).as_posix()
    if not where.exists():
        if name in ALLOWED_MISSING and not parts.fragment:
            return None
        return f"no such file: {name}"
    if parts.fragment:
        if where.suffix != ".md":
            return f"an anchor into a non-Markdown file: {name}"
        if parts.fragment not in anchors(where):
            return f"no heading #{parts.fragment} in {name}"
    return None


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_link_resolves(page):
    found = links(page)
    broken = [f"{target}: {why}" for target in found if (why := problem(page, target))]
    assert not broken, f"{page.relative_to(REPO)}:\n  " + "\n  ".join(broken)


def test_the_checker_finds_what_is_broken():
    """Each kind of broken link is caught, each good one passes."""
    page = REPO / "docs" / "index.md"
    assert problem(page, "camera.md#nuke") is None
    assert problem(page, "#the-passes") is None
    assert problem(page, "../README.md#the-two-commands") is None
    assert problem(page, "reference/settings.md") is None
    assert problem(page, "https://modal.com/docs/guide/gpu") is None
    assert (
        problem(page, "camera.md#no-such-heading")
        == "no heading #no-such-heading in docs/camera.md"
    )
    assert problem(page, "nowhere.md") == "no such file: docs/nowhere.md"
    assert problem(page, "../../outside.md") == "outside the repository"
    assert problem(page, "https://") == "malformed URL"
    assert problem(page, "ftp://example.com/x") == "unexpected scheme 'ftp'"
    # An allowed missing page, but with an anchor: refused (and after the merge, no such heading).
    assert problem(page, "roto.md#no-such-heading") is not None


def test_headings_and_links_are_read_as_github_does():
    assert slug("Local development: `vfx-ingest worker serve`") == (
        "local-development-vfx-ingest-worker-serve"
    )
    assert slug("`--max-cost`") == "--max-cost"
    assert slug("The catalog: dated and sourced") == "the-catalog-dated-and-sourced"
    assert slug("`runpod.api_key`") == "runpodapi_key"
    text = 'See [a](x.md) and `[not](y.md)`.\n```\n[nor](z.md)\n```\n![img](i.png "t")'
    assert [m.group(1) for line in prose(text) for m in LINK.finditer(line)] == ["x.md", "i.png"]


def test_the_allow_list_holds_only_pages_still_missing():
    merged = sorted(name for name in ALLOWED_MISSING if (REPO / name).is_file())
    assert not merged, f"remove from ALLOWED_MISSING in {Path(__file__).name}: {merged}"
