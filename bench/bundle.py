"""The Lambda bundle: its size, and what importing a handler module costs beyond boto3.

Import time is measured in fresh subprocesses, each timing `import boto3` (the baseline) or
`import boto3; import replicator` (or `cleaner`) with the extracted bundle first on `sys.path`,
as Lambda puts the unzipped bundle (`/var/task`) first. The figure is the difference of the
medians. Rounds interleave the variants so that a busy moment hits all of them alike.

Bytecode is controlled: a private `PYTHONPYCACHEPREFIX` is warmed once, so the standard library
and boto3 load from cached bytecode, as they do in the Lambda runtime. The bundle zip carries no
`.pyc` and `/var/task` is read-only, so a cold start compiles the bundle's sources: the "compiled"
variant imports from a copy of the bundle whose bytecode is never written (the Lambda case, and
the figure the target is checked against); the "cached" variant imports from a copy whose
bytecode is cached (a lower bound).

    .venv/bin/python -m bench.bundle [--runs 15] [--json]

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.report import Figure, emit
from objbackup.bundle import HANDLER_MODULES, build_bundle

BUNDLE_MAX_BYTES = 256 * 1024
IMPORT_MAX_MS = 30.0
LAMBDA_PYTHON = (3, 12)  # the runtime the templates name (python3.12)
DEFAULT_RUNS = 15

# Environment variables that would change what a probe imports or whether bytecode is written.
_SCRUBBED = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPYCACHEPREFIX",
    "PYTHONNOUSERSITE",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONSAFEPATH",
)

_PROBE = """\
import json, sys, time
sys.path.insert(0, {path!r})
t0 = time.perf_counter()
import boto3
t1 = time.perf_counter()
{handler}
t2 = time.perf_counter()
objbackup = sys.modules.get("objbackup")
print(json.dumps({{
    "total_ms": (t2 - t0) * 1000,
    "handler_ms": (t2 - t1) * 1000,
    "boto3": boto3.__file__,
    "objbackup": getattr(objbackup, "__file__", None),
}}))
"""


@dataclass(frozen=True)
class Interpreter:
    label: str
    executable: str
    pythonpath: str | None  # where boto3 comes from, for an interpreter outside the venv


@dataclass(frozen=True)
class Probe:
    total_ms: float
    handler_ms: float


def find_lambda_python() -> str | None:
    """A python3.12 executable (the Lambda runtime's version), or None."""
    found = shutil.which("python3.12")
    candidates = [found] if found else []
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))
    for candidate in candidates:
        try:
            out = subprocess.run(
                [candidate, "-c", "import sys; print(*sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout.split()
        except (OSError, subprocess.SubprocessError):
            continue
        if tuple(map(int, out)) == LAMBDA_PYTHON:
            return candidate
    return None


class ImportBench:
    """Extracted bundles, a private bytecode cache, and the subprocesses that time imports."""

    def __init__(self, root: Path, data: bytes) -> None:
        self.root = root
        self.pycache = root / "pycache"
        self.cached = root / "bundle-cached"
        self.compiled = root / "bundle-compiled"
        for target in (self.cached, self.compiled):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                archive.extractall(target)

    def _env(self, interpreter: Interpreter, write_bytecode: bool) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        env["PYTHONPYCACHEPREFIX"] = str(self.pycache)
        if not write_bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        if interpreter.pythonpath:
            env["PYTHONPATH"] = interpreter.pythonpath
        return env

    def probe(
        self, interpreter: Interpreter, handler: str | None, bundle: Path, write: bool = False
    ) -> Probe:
        code = _PROBE.format(path=str(bundle), handler=f"import {handler}" if handler else "")
        done = subprocess.run(
            [interpreter.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=self.root,
            env=self._env(interpreter, write),
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{interpreter.label} probe failed:\n{done.stderr}")
        result = json.loads(done.stdout)
        if handler and not str(result["objbackup"]).startswith(str(bundle)):
            raise RuntimeError(f"objbackup came from {result['objbackup']}, not the bundle")
        return Probe(result["total_ms"], result["handler_ms"])

    def warm(self, interpreter: Interpreter) -> None:
        """Cache bytecode for the standard library, boto3 and the "cached" bundle copy."""
        for _ in range(2):
            for handler in HANDLER_MODULES:
                self.probe(interpreter, handler, self.cached, write=True)

    def measure(self, interpreter: Interpreter, runs: int) -> list[Figure]:
        self.warm(interpreter)
        variants: list[tuple[str, str | None, Path]] = [("baseline", None, self.cached)]
        for handler in HANDLER_MODULES:
            variants.append((f"{handler} compiled", handler, self.compiled))
            variants.append((f"{handler} cached", handler, self.cached))
        samples: dict[str, list[Probe]] = {name: [] for name, _, _ in variants}
        for _ in range(runs):
            for name, module, bundle in variants:
                samples[name].append(self.probe(interpreter, module, bundle))
        if any(self.compiled.rglob("*.pyc")) or any(
            self.pycache.glob(f"**/{self.compiled.name}/**/*.pyc")
        ):
            raise RuntimeError("bytecode was written for the compiled bundle copy")

        baseline = statistics.median(p.total_ms for p in samples["baseline"])
        figures = [
            Figure(
                f"{interpreter.label}: import boto3",
                round(baseline, 1),
                "ms",
                detail=f"median of {runs}",
            )
        ]
        gate = interpreter.label.startswith("python3.12")
        for name, _, _ in variants[1:]:
            total = statistics.median(p.total_ms for p in samples[name])
            inside = statistics.median(p.handler_ms for p in samples[name])
            compiled = name.endswith("compiled")
            figures.append(
                Figure(
                    f"{interpreter.label}: import {name}, beyond boto3",
                    round(total - baseline, 1),
                    "ms",
                    IMPORT_MAX_MS if gate and compiled else None,
                    detail=(
                        f"median {total:.1f} - {baseline:.1f} ms; "
                        f"in-process delta median {inside:.1f} ms"
                    ),
                    extra={
                        "median_total_ms": round(total, 2),
                        "median_baseline_ms": round(baseline, 2),
                        "median_in_process_ms": round(inside, 2),
                        "totals_ms": [round(p.total_ms, 2) for p in samples[name]],
                    },
                )
            )
        return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bundle", description=__doc__)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="subprocesses per variant")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    bundle = build_bundle()
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        infos = archive.infolist()
    source_bytes = sum(i.file_size for i in infos)
    figures = [
        Figure(
            "bundle zip size",
            len(bundle.data),
            "bytes",
            BUNDLE_MAX_BYTES,
            detail=f"{len(bundle.data) / 1024:.1f} KiB, {len(infos)} files, "
            f"{source_bytes:,} bytes unzipped",
            extra={"files": len(infos), "unzipped_bytes": source_bytes},
        )
    ]

    interpreters = []
    lambda_python = find_lambda_python()
    if lambda_python:
        boto3_home = sysconfig.get_paths()["purelib"]
        interpreters.append(Interpreter("python3.12", lambda_python, boto3_home))
    venv_label = f"venv python{sys.version_info.major}.{sys.version_info.minor}"
    if sys.version_info[:2] == LAMBDA_PYTHON:
        venv_label = "python3.12 (venv)"
    interpreters.append(Interpreter(venv_label, sys.executable, None))
    if not lambda_python and sys.version_info[:2] != LAMBDA_PYTHON:
        print("python3.12 not found: import time is not checked", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="objbackup-bench-") as tmp:
        bench = ImportBench(Path(tmp), bundle.data)
        for interpreter in interpreters:
            figures += bench.measure(interpreter, args.runs)

    return emit(
        "bundle",
        "Lambda bundle: size and handler import time",
        figures,
        args.json,
        runs=args.runs,
        interpreters={i.label: i.executable for i in interpreters},
    )


if __name__ == "__main__":
    sys.exit(main())
