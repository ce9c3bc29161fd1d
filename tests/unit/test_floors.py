"""constraints/minimum.txt pins exactly the floors pyproject.toml declares, so `make test-min`
tests the lowest releases a user may get, and a floor cannot move without its pin."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
# Tools that `make test-min` does not run; their floors are not pinned there.
UNPINNED_TOOLS = frozenset({"ruff", "mypy", "types-boto3", "build", "import-linter"})


def declared_floors() -> dict[str, str]:
    """Every requirement of the build, the package and its extras -> its `>=` floor."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lines = [*project["build-system"]["requires"], *project["project"]["dependencies"]]
    for extra in project["project"]["optional-dependencies"].values():
        lines.extend(extra)
    floors: dict[str, str] = {}
    for line in lines:
        requirement = Requirement(line)
        if requirement.name == project["project"]["name"]:
            continue  # an extra that includes another (dev includes sandbox)
        lower = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        assert len(lower) == 1, f"{line!r} declares no single `>=` floor"
        floors[canonicalize_name(requirement.name)] = lower[0]
    return floors


def pins() -> dict[str, str]:
    pinned: dict[str, str] = {}
    for raw in (ROOT / "constraints" / "minimum.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{raw!r} is not a `name==version` pin"
            pinned[canonicalize_name(name)] = version.strip()
    return pinned


def test_every_floor_is_pinned_at_its_declared_version() -> None:
    floors = declared_floors()
    expected = {name: floor for name, floor in floors.items() if name not in UNPINNED_TOOLS}
    assert {name: pins().get(name) for name in expected} == expected


def test_every_pin_is_a_declared_floor() -> None:
    floors = declared_floors()
    assert {name: floors.get(name) for name in pins()} == pins()
