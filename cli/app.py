"""Entry point of the `objbackup` console script (the full CLI arrives with its own issue)."""

from __future__ import annotations


def main() -> None:
    raise SystemExit("objbackup: the command-line interface is not built yet")
