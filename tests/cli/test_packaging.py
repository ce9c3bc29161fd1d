"""`pip install` of the built wheel (not an editable checkout) gives an `objbackup` that can deploy:
the templates, the handler sources and the core all come from the wheel.

The wheel is installed without its dependencies into a fresh virtual environment, which then
sees this environment's site-packages (boto3, typer, rich, moto) through a .pth line. A path
added that way has its own .pth files ignored, so the editable install of this checkout stays
invisible, and every objbackup module must come from the wheel.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from objbackup.bundle import build_bundle

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "objbackup", "cli", "lambda_bundle", "cloudformation")
CHECK = """
import io, sys, zipfile
from pathlib import Path
import cli, cloudformation, lambda_bundle, objbackup
from objbackup.bundle import build_bundle
from objbackup.deploy.stacks import ROLES, template_body

prefix = Path(sys.prefix).resolve()
for module in (objbackup, cli, cloudformation, lambda_bundle):
    assert prefix in Path(module.__file__).resolve().parents, module.__file__
for role in ROLES:
    assert template_body(role).startswith('AWSTemplateFormatVersion'), role
bundle = build_bundle()
names = zipfile.ZipFile(io.BytesIO(bundle.data)).namelist()
assert {'replicator.py', 'cleaner.py', 'objbackup/runtime.py'} <= set(names), names
assert not [n for n in names if n.startswith(('objbackup/deploy', 'objbackup/sandbox'))], names
print(bundle.key)
"""


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_the_wheel_carries_templates_and_handlers(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, source, cwd=tmp_path)
    (wheel,) = dist.glob("objbackup-*.whl")

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    pip = (sys.executable, "-m", "pip", "--python", python)
    run(*pip, "install", "--quiet", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "objbackup_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    helped = run(venv / "bin" / "objbackup", "--help", cwd=tmp_path)
    for command in ("deploy", "list", "clean", "status", "teardown", "sandbox", "demo"):
        assert command in helped.stdout
    checked = run(python, "-c", CHECK, cwd=tmp_path)
    # Same sources, same bytes: the installed wheel builds the very bundle this checkout builds.
    assert checked.stdout.strip() == build_bundle().key
