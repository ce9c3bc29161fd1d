"""Which keys a deployment backs up: `--include-prefix` / `--exclude-prefix`, as one pure filter.

The deployed EventBridge rule narrows S3's events to a superset of the filter, so most keys outside
it never cost an invocation; the replicator applies the exact filter to every event's decoded key;
backfill and verify use this class so that they agree with the replicator.

The rule sees the key as S3 writes it into the event. AWS documents that encoding only for classic
notifications ("The object key name value is URL encoded. For example, "red flower.jpg" becomes
"red+flower.jpg"", https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html);
the EventBridge event's `detail.object` is described only as "Information about the Amazon S3
object involved in the event" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html).
Real classic events have been seen with `/` encoded too (`test%2F10%3A47...`,
https://github.com/aws/aws-sdk-js/issues/837), and Java's form encoder encodes `~` (only letters,
digits and `.-*_` "remain the same", java.net.URLEncoder's documentation). So the rule relies only
on characters that every plausible encoding (raw; form or percent encoding; `/` and `~` kept or
not; either hex case) leaves as they are: ASCII letters, digits, `-`, `_` and `.` (`INVARIANT`).
An include narrows the rule by its longest leading run of them; an exclude goes into the rule only
when it is made of them entirely (cut short, it would drop keys it should keep).

EventBridge cannot AND two matchers on one field (a pattern's list of matchers is an OR, and
`anything-but` takes a single prefix), so with includes the rule carries only their invariant
parts; with excludes alone, the first exclude that is invariant as a whole. Whatever the rule lets
by beyond the filter, the replicator drops.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Any

# Replicator stack parameters that hold the filter, comma-separated ("" means none).
INCLUDE_PARAMETER = "IncludePrefixes"
EXCLUDE_PARAMETER = "ExcludePrefixes"
# Replicator stack parameter: the rule's matchers for detail.object.key as JSON ("" = every key).
KEY_PATTERN_PARAMETER = "ObjectKeyPattern"
# Characters every plausible encoding of a key in an S3 event leaves unchanged (see above).
INVARIANT = frozenset(string.ascii_letters + string.digits + "-_.")


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


def invariant_part(prefix: str) -> str:
    """The longest leading part of `prefix` that every plausible event encoding leaves as it is.

    Encodings work character by character, so every key under `prefix` arrives in its event
    starting with exactly this text, however S3 encodes the rest.
    """
    for index, char in enumerate(prefix):
        if char not in INVARIANT:
            return prefix[:index]
    return prefix


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

        Every key the filter matches passes them however S3 encodes it; `rule_is_exact` says
        whether only those do.
        """
        normal = self.normalized()
        if normal.include:
            cut = _minimal(tuple(invariant_part(p) for p in normal.include))
            if not all(cut):
                return None  # an include starts with a character some encoding changes
            return [{"prefix": p} for p in cut]
        exact = [p for p in normal.exclude if invariant_part(p) == p]
        if exact:
            return [{"anything-but": {"prefix": exact[0]}}]
        return None

    @property
    def rule_is_exact(self) -> bool:
        """True when the rule alone applies the whole filter (the replicator drops nothing)."""
        normal = self.normalized()
        invariant = all(invariant_part(p) == p for p in normal.include + normal.exclude)
        if normal.include:
            return invariant and not normal.exclude
        return invariant and len(normal.exclude) <= 1

    def key_pattern_parameter(self) -> str:
        """The value of the replicator stack's ObjectKeyPattern parameter ("" = every key)."""
        matchers = self.rule_key_matchers()
        return "" if matchers is None else json.dumps(matchers, separators=(",", ":"))

    def stack_parameters(self) -> dict[str, str]:
        """The replicator stack parameters this filter sets: the prefixes and the rule's pattern."""
        normal = self.normalized()
        return normal.to_parameters() | {KEY_PATTERN_PARAMETER: normal.key_pattern_parameter()}

    def describe_rule(self) -> str:
        """One line for people: which keys' events the rule lets by, and if that is wider."""
        matchers = self.rule_key_matchers()
        if matchers is None:
            text = "every key"
        elif "prefix" in matchers[0]:
            text = "keys starting with " + ", ".join(m["prefix"] for m in matchers)
        else:
            text = "every key not starting with " + matchers[0]["anything-but"]["prefix"]
        if self.rule_is_exact:
            return text
        return text + " (wider than the filter: the replicator drops the rest)"

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
