"""Asking before a destructive step: a terminal is asked; a pipe is read; no answer at all (a
script, a closed stdin) ends with a hint to pass --yes instead of a bare "Aborted!"."""

from __future__ import annotations

import sys

from objbackup.core.errors import ObjbackupError


class NoAnswer(ObjbackupError):
    """Nobody can answer the question: the command would wait for input that never comes."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def confirm(question: str, refused: str, hint: str) -> bool:
    """True when the answer is yes; NoAnswer (`refused`, `hint`) when no answer comes."""
    from objbackup.cli import render

    if sys.stdin.isatty():
        return render.confirm(question)
    render.message(f"{question} [y/N]: ")
    line = sys.stdin.readline()
    if not line:
        raise NoAnswer(refused, hint)
    return line.strip().lower() in ("y", "yes")
