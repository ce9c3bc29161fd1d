"""Every relative link and `#anchor` in README.md and docs/*.md resolves: a file that exists, and a
heading in it under GitHub's anchor rules, so moving a section between files cannot leave a dead
link behind. The README stays a newcomer's page: reference material goes to docs/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
# What a newcomer reads in one sitting: what it is, the diagram, the two commands, AWS, the
# command list, cost and limits; the rest is linked from docs/.
README_MAX_BYTES = 12_000


def _prose(text: str) -> str:
    """The text outside fenced code blocks: a `# comment` in a shell block is no heading."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped (word characters, spaces and
    hyphens stay), each space a hyphen (github/cmark-gfm's and github-slugger's rules)."""
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor the headings of `path` get; a repeated heading gets `-1`, `-2`, ..."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in _prose(path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    """The relative link targets of `path`, outside code."""
    text = INLINE_CODE.sub("", _prose(path.read_text(encoding="utf-8")))
    return [
        target
        for target in LINK.findall(text)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    ]


def test_the_slug_follows_githubs_rules() -> None:
    assert slug("How a copy is named and why it is exact") == (
        "how-a-copy-is-named-and-why-it-is-exact"
    )
    assert slug("A mass delete under the index partition limit") == (
        "a-mass-delete-under-the-index-partition-limit"
    )
    assert slug("Storage, and what minimums do to it") == "storage-and-what-minimums-do-to-it"
    assert slug("`objbackup verify` --repair") == "objbackup-verify---repair"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(doc: Path) -> None:
    dead = []
    for target in links(doc):
        file_part, _, anchor = target.partition("#")
        resolved = (doc.parent / file_part).resolve() if file_part else doc
        if not resolved.exists():
            dead.append(f"{target}: no file {resolved.relative_to(ROOT)}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            dead.append(f"{target}: no heading #{anchor} in {resolved.relative_to(ROOT)}")
    assert not dead, f"dead links in {doc.relative_to(ROOT)}: {dead}"


def test_the_readme_stays_within_its_size() -> None:
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_MAX_BYTES, (
        f"README.md is {size:,} bytes (at most {README_MAX_BYTES:,}): move reference material "
        "into docs/ and link it"
    )
