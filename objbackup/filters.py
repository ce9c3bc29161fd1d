"""Which keys a deployment backs up: `--include-prefix` / `--exclude-prefix`, as one pure filter.

The deployed EventBridge rule applies the same filter, so keys outside it never cost an invocation;
backfill and verify use this class so that they agree with the rule.

EventBridge cannot AND two matchers on one field (a pattern's list of matchers is an OR, and
`anything-but` takes a single prefix), so the rule carries the narrowest pattern it can express
exactly: the include prefixes, or else the first exclude prefix. When that is wider than the filter
(excludes under an include, or several excludes alone), the replicator drops the rest itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

# Replicator stack parameters that hold the filter, comma-separated ("" means none).
INCLUDE_PARAMETER = "IncludePrefixes"
EXCLUDE_PARAMETER = "ExcludePrefixes"
# Replicator stack parameter: the rule's matchers for detail.object.key as JSON ("" = every key).
KEY_PATTERN_PARAMETER = "ObjectKeyPattern"


def check_prefix(prefix: str) -> str:
    """`prefix` if it can be one item of a comma-separated prefix list."""
    if not prefix:
        raise ValueError(
            "a key prefix must not be empty (leave the option out to back up every key)"
        )
    if "," in prefix:
        raise ValueError(f"key prefix {prefix!r} contains a comma, which separates prefixes")
    if len(prefix.encode("utf-8")) > 1024:
        raise ValueError("a key prefix is at most 1024 bytes long, like a key")
    return prefix


def encode_key(key: str) -> str:
    """A key as S3 writes it into an event: URL-encoded, `+` for a space, `/` kept.

    Encoding works character by character, so a prefix of a key encodes to a prefix of the
    encoded key: the rule can match encoded prefixes against encoded keys.
    """
    return quote_plus(key, safe="/")


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

    def check(self) -> KeyFilter:
        """This filter, if every prefix is valid and it can match some key."""
        for prefix in self.include + self.exclude:
            check_prefix(prefix)
        if self.include and self.exclude and all(i.startswith(self.exclude) for i in self.include):
            raise ValueError(
                "every --include-prefix lies under an --exclude-prefix: nothing would be backed up"
            )
        return self

    def normalized(self) -> KeyFilter:
        """The same filter with no redundant prefix, in the order given.

        Drops a prefix under another of its list, an include under an exclude, and an exclude
        outside every include (it removes nothing the includes let in).
        """
        include, exclude = _minimal(self.include), _minimal(self.exclude)
        if include and exclude:
            kept = tuple(i for i in include if not i.startswith(exclude))
            if not kept:
                return KeyFilter(include, exclude)  # matches nothing; `check` refuses it
            include, exclude = kept, tuple(e for e in exclude if e.startswith(kept))
        return KeyFilter(include, exclude)

    def rule_key_matchers(self) -> list[dict[str, Any]] | None:
        """The EventBridge matchers for `detail.object.key` (None: no condition on the key).

        Every key the filter matches passes them; `rule_is_exact` says whether only those do.
        """
        normal = self.normalized()
        if normal.include:
            return [{"prefix": encode_key(p)} for p in normal.include]
        if normal.exclude:
            return [{"anything-but": {"prefix": encode_key(normal.exclude[0])}}]
        return None

    @property
    def rule_is_exact(self) -> bool:
        """True when the rule alone applies the whole filter (the replicator drops nothing)."""
        normal = self.normalized()
        return not normal.exclude or (not normal.include and len(normal.exclude) == 1)

    def key_pattern_parameter(self) -> str:
        """The value of the replicator stack's ObjectKeyPattern parameter ("" = every key)."""
        matchers = self.rule_key_matchers()
        return "" if matchers is None else json.dumps(matchers, separators=(",", ":"))

    def stack_parameters(self) -> dict[str, str]:
        """The replicator stack parameters this filter sets: the prefixes and the rule's pattern."""
        normal = self.normalized()
        return normal.to_parameters() | {KEY_PATTERN_PARAMETER: normal.key_pattern_parameter()}

    def describe(self) -> str:
        """One line for people: which keys are backed up."""
        if self.everything:
            return "every key"
        parts = []
        if self.include:
            parts.append("keys under " + ", ".join(self.include))
        else:
            parts.append("every key")
        if self.exclude:
            parts.append("except under " + ", ".join(self.exclude))
        return " ".join(parts)


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(p for p in (value or "").split(",") if p)


def _minimal(prefixes: tuple[str, ...]) -> tuple[str, ...]:
    """The prefixes not under another one of the list (duplicates once), in the order given."""
    unique = tuple(dict.fromkeys(prefixes))
    return tuple(p for p in unique if not any(p != q and p.startswith(q) for q in unique))
