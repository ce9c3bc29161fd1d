"""What `pip install objbackup` puts on a machine: one `objbackup` import name, its version, and
what it depends on; the built wheel (not an editable checkout) can deploy.

The wheel test installs the wheel without its dependencies into a fresh virtual environment, which
then sees this environment's site-packages (boto3, typer, rich, moto) through a .pth line. A path
added that way has its own .pth files ignored, so the editable install of this checkout stays
invisible, and every objbackup module must come from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from typer.testing import CliRunner

import objbackup
from objbackup.bundle import build_bundle
from objbackup.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
SOURCES = (
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "objbackup",
    "cli",
    "lambda_bundle",
    "cloudformation",
)
# Checkout folder -> where the wheel installs it (pyproject.toml's package-dir).
INSTALLED_AS = {
    "objbackup": "objbackup",
    "cli": "objbackup/cli",
    "lambda_bundle": "objbackup/lambda_bundle",
    "cloudformation": "objbackup/cloudformation",
}
CHECK = """
import importlib.util, io, sys, zipfile
from pathlib import Path
import objbackup, objbackup.cli, objbackup.cloudformation, objbackup.lambda_bundle
from objbackup.bundle import build_bundle
from objbackup.deploy.stacks import ROLES, template_body

prefix = Path(sys.prefix).resolve()
for module in (objbackup, objbackup.cli, objbackup.cloudformation, objbackup.lambda_bundle):
    assert prefix in Path(module.__file__).resolve().parents, module.__file__
for bare in ("cli", "cloudformation", "lambda_bundle"):
    assert importlib.util.find_spec(bare) is None, bare
for role in ROLES:
    assert template_body(role).startswith('AWSTemplateFormatVersion'), role
bundle = build_bundle()
names = zipfile.ZipFile(io.BytesIO(bundle.data)).namelist()
assert {'replicator.py', 'cleaner.py', 'objbackup/core/runtime.py'} <= set(names), names
assert all(n.startswith('objbackup/') or n in ('replicator.py', 'cleaner.py') for n in names), names
unwanted = ('objbackup/deploy', 'objbackup/sandbox', 'objbackup/cli', 'objbackup/cloudformation',
            'objbackup/lambda_bundle')
assert not [n for n in names if n.startswith(unwanted)], names
print(bundle.key)
"""


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Without PYTHONPATH: a checkout on it would shadow the installed wheel.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


def test_version_prints_the_single_source() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"objbackup {objbackup.__version__}\n" == "objbackup 0.1.0\n"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    dynamic = project["tool"]["setuptools"]["dynamic"]
    assert dynamic["version"] == {"attr": "objbackup.__version__"}


def test_moto_is_only_in_the_sandbox_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {Requirement(r).name for r in project["dependencies"]}
    assert "moto" not in names
    extras = project["optional-dependencies"]
    assert [Requirement(r).name for r in extras["sandbox"]] == ["moto"]
    assert "objbackup[sandbox]" in extras["dev"]


def test_imports_use_the_installed_names() -> None:
    """No module imports the bare top-level folder names, which exist only in a checkout."""
    checked = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "rename_imports.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, f"imports to rename:\n{checked.stdout}{checked.stderr}"


def checkout_files() -> set[str]:
    """Every file the wheel should carry, under its installed path."""
    files = {"objbackup/py.typed"}
    for folder, installed in INSTALLED_AS.items():
        # os.walk does not follow objbackup/cli and the other links to the top-level folders.
        for dirpath, dirnames, filenames in os.walk(ROOT / folder):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            relative = Path(dirpath).relative_to(ROOT / folder)
            for name in filenames:
                if name.endswith((".py", ".yaml")):
                    files.add(f"{installed}/{relative / name}".replace("/./", "/"))
    return files


@pytest.mark.slow
def test_the_wheel_installs_one_package_that_deploys(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(path, source / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, source, cwd=tmp_path)
    (wheel,) = dist.glob("objbackup-*.whl")
    version = objbackup.__version__
    assert wheel.name == f"objbackup-{version}-py3-none-any.whl"

    info = f"objbackup-{version}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"{info}/METADATA").decode()
    assert {n.split("/")[0] for n in names} == {"objbackup", info}
    assert {n for n in names if not n.startswith(info)} == checkout_files()
    assert f"{info}/licenses/LICENSE" in names
    requires = [
        line.split(": ", 1)[1]
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    moto = [r for r in requires if Requirement(r).name == "moto"]
    assert moto and all('extra == "sandbox"' in r for r in moto), requires

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    pip = (sys.executable, "-m", "pip", "--python", python)
    run(*pip, "install", "--quiet", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    (site,) = venv.glob("lib/python*/site-packages")
    assert {p.name for p in site.iterdir()} == {"objbackup", info}
    (site / "objbackup_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    versioned = run(venv / "bin" / "objbackup", "--version", cwd=tmp_path)
    assert versioned.stdout == f"objbackup {version}\n"
    helped = run(venv / "bin" / "objbackup", "--help", cwd=tmp_path)
    for command in ("deploy", "list", "clean", "status", "teardown", "sandbox", "demo"):
        assert command in helped.stdout
    checked = run(python, "-c", CHECK, cwd=tmp_path)
    # Same sources, same bytes: the installed wheel builds the very bundle this checkout builds.
    assert checked.stdout.strip() == build_bundle().key
