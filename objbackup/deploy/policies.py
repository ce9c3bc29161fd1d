"""Reading and setting resources' DeletionPolicy in our YAML templates, as text.

`teardown --keep-backups` updates the storage stack to retain the backup bucket and the table
before deleting it. The templates are ours and the edit is checked, so a text edit is enough and
the core needs no YAML parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_ATTRIBUTES = ("DeletionPolicy", "UpdateReplacePolicy")


class TemplateEditError(ValueError):
    """The template does not have the shape the edit expects."""


def _block(template: str, logical_id: str) -> tuple[int, int]:
    """Start and end offsets of a resource's block (two-space indented under Resources)."""
    start = re.search(rf"^  {re.escape(logical_id)}:[ \t]*$", template, flags=re.MULTILINE)
    if start is None:
        raise TemplateEditError(f"resource {logical_id} not found in the template")
    end = re.compile(r"^(?:  )?\S", flags=re.MULTILINE).search(template, start.end() + 1)
    return start.end(), end.start() if end else len(template)


def deletion_policy(template: str, logical_id: str) -> str:
    """The resource's DeletionPolicy ("Delete" when it has none)."""
    begin, end = _block(template, logical_id)
    found = re.search(r"^    DeletionPolicy:[ \t]*(\w+)[ \t]*$", template[begin:end], re.MULTILINE)
    return found.group(1) if found else "Delete"


def with_policy(template: str, logical_ids: Iterable[str], policy: str = "Retain") -> str:
    """The template with DeletionPolicy and UpdateReplacePolicy of each resource set to
    `policy`; TemplateEditError when a resource is missing or has no `Type:` line."""
    ids = tuple(logical_ids)
    for logical_id in ids:
        begin, end = _block(template, logical_id)
        block = template[begin:end]
        for attribute in reversed(_ATTRIBUTES):  # inserted right after Type: in this order
            line = re.compile(rf"^    {attribute}:[ \t]*\w+[ \t]*$", re.MULTILINE)
            if line.search(block):
                block = line.sub(f"    {attribute}: {policy}", block)
            else:
                typed = re.search(r"^    Type:[^\n]*$", block, re.MULTILINE)
                if typed is None:
                    raise TemplateEditError(f"resource {logical_id} has no Type line")
                block = f"{block[: typed.end()]}\n    {attribute}: {policy}{block[typed.end() :]}"
        template = template[:begin] + block + template[end:]
    for logical_id in ids:
        if deletion_policy(template, logical_id) != policy:
            raise TemplateEditError(f"could not set the DeletionPolicy of {logical_id}")
    return template
