"""Rewrite imports of moved modules to their current names.

The wheel installs `cli/`, `cloudformation/` and `lambda_bundle/` as `objbackup.cli`,
`objbackup.cloudformation` and `objbackup.lambda_bundle` (pyproject.toml's package-dir), so code
must import them by those names; and the modules the Lambda functions run moved from `objbackup/`
into `objbackup/core/` (`CORE_MODULES`); a few modules and names were renamed for what they hold
(`objbackup.deploy.describe` is `objbackup.deploy.deployment`, `cli/scope.py` is
`cli/deployed.py`, `Globals` is `GlobalOptions`, `cli/commands/local.py` is
`cli/commands/sandbox.py`...).
Idempotent: run it again after merging a branch that still uses the old names
(`.venv/bin/python tools/rename_imports.py`, which then runs ruff on what it changed); `--check`
only lists what would change and exits 1 if anything would.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("objbackup", "cli", "lambda_bundle", "cloudformation", "tests", "bench", "tools")
_NAMES = r"(cli|lambda_bundle|cloudformation)"
# The modules that moved into objbackup/core (the Lambda side); `objbackup.core.x` never matches.
CORE_MODULES = [
    *("aws", "batch", "chunks", "clean", "config", "continuation", "copier", "deadline", "deletes"),
    *("errors", "events", "filters", "logs", "metrics", "multipart", "naming", "records"),
    *("replicate", "resurface", "runtime", "storage_class", "table", "unsupported"),
]
_CORE = "|".join(CORE_MODULES)
_REWRITES = (
    # objbackup.table -> objbackup.core.table, in imports, patch targets and prose alike
    (re.compile(rf"\bobjbackup\.({_CORE})\b"), r"objbackup.core.\1"),
    (re.compile(rf"\bobjbackup/({_CORE})\.py\b"), r"objbackup/core/\1.py"),
    (
        re.compile(rf"^(\s*)from objbackup import ({_CORE})\b", re.M),
        r"\1from objbackup.core import \2",
    ),
    # `from cli.x import y`, `from cli import y`, `import lambda_bundle.cleaner`
    (re.compile(rf"^(\s*)(from|import) {_NAMES}(?=[.\s])", re.M), r"\1\2 objbackup.\3"),
    # module paths in strings: importlib.import_module("cli.demo"), sys.modules["cli.demo"]; not
    # "cli.py", nor "cloudformation.amazonaws.com" (cloudformation holds no module to name)
    (re.compile(r"""(["'])(cli|lambda_bundle)\.(?=\w)(?!py["'])"""), r"\1objbackup.\2."),
    # cli/commands/local.py, named for what it holds: the `sandbox` and `demo` commands
    (re.compile(r"\bobjbackup\.cli\.commands\.local\b"), "objbackup.cli.commands.sandbox"),
    # `python -m cli`
    (re.compile(r"""(["']-m["'],\s*["'])cli(["'])"""), r"\1objbackup.cli\2"),
    # Modules and names renamed for what they hold (docs/DESIGN.md, Layout)
    (re.compile(r"\bobjbackup([./])deploy([./])describe\b"), r"objbackup\1deploy\2deployment"),
    (
        re.compile(r"\bobjbackup\.cli\.(?:scope|target) import (\w+, )?(?:Scope|Target)\b"),
        r"objbackup.cli.deployed import \1Deployed",
    ),
    (re.compile(r"\bobjbackup\.cli\.(?:scope|target)\b"), "objbackup.cli.deployed"),
    (re.compile(r"\b(?:deployment_scope|find_target)\b"), "find_deployed"),
    # Only the class as code names it (imported, or in an annotation): "Globals" is also a word
    # of prose and of SAM templates.
    (re.compile(r"\b(import (?:[\w, ]+, )?|: )Globals\b"), r"\1GlobalOptions"),
    (re.compile(r"\bglobals_of\b"), "global_options"),
)


def rewrite(text: str) -> str:
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return text


def main(argv: list[str]) -> int:
    check = "--check" in argv
    changed: list[Path] = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == Path(__file__).resolve():
                continue  # its own patterns and examples
            if path.is_relative_to(ROOT / "objbackup") and any(
                part in ("cli", "lambda_bundle", "cloudformation")
                for part in path.relative_to(ROOT / "objbackup").parts
            ):
                continue  # the checkout's links to the top-level folders
            old = path.read_text(encoding="utf-8")
            new = rewrite(old)
            if new != old:
                changed.append(path.relative_to(ROOT))
                if not check:
                    path.write_text(new, encoding="utf-8")
    for path in changed:
        print(path)
    if changed and not check:
        # A longer name can reorder imports (isort) and overflow a line: let ruff settle both.
        files = [str(ROOT / path) for path in changed]
        ruff = [sys.executable, "-m", "ruff"]
        subprocess.run([*ruff, "check", "--fix", "--select", "I", "--quiet", *files], check=True)  # noqa: S603
        subprocess.run([*ruff, "format", "--quiet", *files], check=True)  # noqa: S603
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
