"""The Lambda bundle: deterministic, small, complete, and importable by the Lambda runtime alone."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from objbackup.bundle import CLEANER_HANDLER, REPLICATOR_HANDLER, Bundle, build_bundle

MAX_BUNDLE_BYTES = 256 * 1024
LAMBDA_PYTHON = (3, 12)
PYTHON_CANDIDATES = (shutil.which("python3.12"), "/root/.pyenv/versions/3.12.1/bin/python3.12")
CLI_ONLY_MODULES = ("cli", "typer", "click", "rich", "moto")
# The type stubs are a development dependency: the handlers must never need them at run time.
STUB_PREFIXES = ("types_boto3", "mypy_boto3", "botocore_stubs", "types_s3transfer")
# Subpackages of objbackup that only the CLI imports (their folders stay out of the zip).
CLI_ONLY_PACKAGES = ("objbackup.cli", "objbackup.deploy", "objbackup.sandbox")


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return build_bundle()


@pytest.fixture(scope="module")
def names(bundle: Bundle) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        return archive.namelist()


def test_two_builds_are_byte_identical(bundle: Bundle) -> None:
    again = build_bundle()
    assert again.data == bundle.data
    assert again.sha256 == bundle.sha256
    assert again.key == bundle.key
    assert bundle.key == f"bundles/objbackup-{bundle.sha256[:20]}.zip"


def test_handlers_and_core_sit_at_the_root(names: list[str]) -> None:
    assert {"replicator.py", "cleaner.py", "objbackup/__init__.py"} <= set(names)
    assert REPLICATOR_HANDLER == "replicator.handler"
    assert CLEANER_HANDLER == "cleaner.handler"
    assert all(n.startswith("objbackup/") or n in ("replicator.py", "cleaner.py") for n in names)


def test_holds_exactly_the_core_package_by_inclusion(names: list[str]) -> None:
    """The bundle is objbackup/core and the package's __init__: no operator module ships."""
    core = Path(__file__).resolve().parents[2] / "objbackup" / "core"
    expected = {f"objbackup/core/{path.name}" for path in core.glob("*.py")}
    package = {n for n in names if n.startswith("objbackup/")}
    assert package == expected | {"objbackup/__init__.py"}


@pytest.mark.parametrize(
    "unwanted",
    [
        "boto3/",
        "botocore/",
        "objbackup/sandbox/",
        "objbackup/deploy/",
        "objbackup/cli/",
        "objbackup/cloudformation/",
        "__pycache__",
        "lambda_bundle/",
        "objbackup/estimate.py",
        "objbackup/verify.py",
        "objbackup/restore.py",
        "objbackup/backfill.py",
        "objbackup/undelete.py",
        "objbackup/listing.py",
        "objbackup/dlq.py",
    ],
)
def test_leaves_out(names: list[str], unwanted: str) -> None:
    assert [n for n in names if unwanted in n] == []


def test_only_python_sources(names: list[str]) -> None:
    assert all(n.endswith(".py") for n in names)


def test_entries_have_fixed_dates_and_permissions(bundle: Bundle) -> None:
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        infos = archive.infolist()
        assert archive.testzip() is None
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}


def test_fits_in_256_kib(bundle: Bundle) -> None:
    assert len(bundle.data) <= MAX_BUNDLE_BYTES


def lambda_python() -> str:
    """The Lambda runtime's Python (3.12), or skip: a pyenv shim may exist without the version."""
    for candidate in PYTHON_CANDIDATES:
        if not candidate:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == str(LAMBDA_PYTHON):
            return candidate
    pytest.skip(f"no working python3.12 (the Lambda runtime) among {PYTHON_CANDIDATES}")


# Runs with -I (no PYTHONPATH, no user site, no cwd on sys.path); the paths come in as arguments:
# the extracted bundle first, then the venv's site-packages standing in for the runtime's boto3.
PROBE = """
import json, sys
bundle_dir, site_packages = sys.argv[1], sys.argv[2]
sys.path[:0] = [bundle_dir, site_packages]
import replicator, cleaner
print(json.dumps({
    "replicator": callable(replicator.handler),
    "cleaner": callable(cleaner.handler),
    "objbackup": sys.modules["objbackup"].__file__,
    "version": list(sys.version_info[:2]),
    "modules": sorted(sys.modules),
}))
"""


def test_handlers_import_in_the_lambda_runtime_alone(bundle: Bundle, tmp_path: Path) -> None:
    python = lambda_python()
    extracted = tmp_path / "task"
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        archive.extractall(extracted)
    site_packages = sysconfig.get_paths()["purelib"]
    result = subprocess.run(
        [python, "-I", "-c", PROBE, str(extracted), site_packages],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["replicator"] and found["cleaner"]
    assert tuple(found["version"]) == LAMBDA_PYTHON
    assert Path(found["objbackup"]).is_relative_to(extracted), "imported the checkout, not the zip"
    loaded = [
        m
        for m in found["modules"]
        if m.split(".")[0] in CLI_ONLY_MODULES or m.startswith(CLI_ONLY_PACKAGES + STUB_PREFIXES)
    ]
    assert loaded == [], f"the handlers import CLI-only or stub modules: {loaded}"
    assert "boto3" in found["modules"]


def test_handlers_import_on_an_older_runtime_sdk(bundle: Bundle, tmp_path: Path) -> None:
    """The runtime's boto3 is whatever Lambda ships in the region: an s3transfer before 0.15 has
    no S3CopyFailedError, and the replicator must still import (and fall back to ClientError)."""
    extracted = tmp_path / "task"
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        archive.extractall(extracted)
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        # s3transfer's own modules load first (they name the class), then it goes, as before 0.15.
        "import boto3.s3.transfer, s3transfer.exceptions as errors\n"
        "del errors.S3CopyFailedError\n"
        "import replicator, cleaner, objbackup.core.copier as copier\n"
        "print(copier._S3_COPY_FAILED.__name__)\n"
    )
    site_packages = sysconfig.get_paths()["purelib"]
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(extracted), site_packages],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "_NeverRaised"
