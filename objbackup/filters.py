"""Which keys a deployment backs up: `--include-prefix` / `--exclude-prefix`, as one pure filter.

The deployed EventBridge rule applies the same filter, so keys outside it never cost an invocation;
backfill and verify use this class so that they agree with the rule.
"""

from __future__ import annotations

from dataclasses import dataclass

# Replicator stack parameters that hold the filter, comma-separated ("" means none).
INCLUDE_PARAMETER = "IncludePrefixes"
EXCLUDE_PARAMETER = "ExcludePrefixes"


@dataclass(frozen=True)
class KeyFilter:
    """Back up a key when it starts with an included prefix (or none are given) and with no
    excluded prefix."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def matches(self, key: str) -> bool:
        """True when `key` is backed up."""
        if self.include and not key.startswith(self.include):
            return False
        return not (self.exclude and key.startswith(self.exclude))

    @property
    def everything(self) -> bool:
        """True when no prefix narrows the filter."""
        return not self.include and not self.exclude

    def to_parameters(self) -> dict[str, str]:
        """The replicator stack's parameter values for this filter."""
        return {
            INCLUDE_PARAMETER: ",".join(self.include),
            EXCLUDE_PARAMETER: ",".join(self.exclude),
        }

    @classmethod
    def from_parameters(cls, include: str | None, exclude: str | None) -> KeyFilter:
        """The filter that stack parameter values (comma-separated, maybe empty) describe."""
        return cls(include=_split(include), exclude=_split(exclude))


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(p for p in (value or "").split(",") if p)
