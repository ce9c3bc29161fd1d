"""The Lambda bundle: a deterministic zip of `objbackup.core` and the two handler modules.

Same sources give the same bytes and so the same hash, which names the uploaded artifact: a deploy
with unchanged code changes no function. boto3 is left out, since the Lambda runtime provides it.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

HANDLER_MODULES = ("replicator", "cleaner")
REPLICATOR_HANDLER = "replicator.handler"
CLEANER_HANDLER = "cleaner.handler"
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Bundle:
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def key(self) -> str:
        """The artifact's key in the artifacts bucket, named by its content."""
        return f"bundles/objbackup-{self.sha256[:20]}.zip"


def bundle_sources() -> dict[str, bytes]:
    """Archive path -> file content for everything the functions need, by inclusion.

    The package's __init__ (for the import path), objbackup/core (all the handlers import: the
    import-linter contract keeps it closed) and the handlers at the root. The operator modules,
    deploy, sandbox and CLI never ship.
    """
    files: dict[str, bytes] = {}
    package = resources.files("objbackup")
    files["objbackup/__init__.py"] = package.joinpath("__init__.py").read_bytes()
    _collect(package.joinpath("core"), "objbackup/core", files)
    handlers = resources.files("objbackup.lambda_bundle")
    for module in HANDLER_MODULES:
        files[f"{module}.py"] = handlers.joinpath(f"{module}.py").read_bytes()
    return files


def build_bundle(sources: dict[str, bytes] | None = None) -> Bundle:
    """Zip `sources` (default: `bundle_sources()`) with fixed order, times and permissions."""
    sources = bundle_sources() if sources is None else sources
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(sources):
            info = zipfile.ZipInfo(path, date_time=_EPOCH)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, sources[path], compresslevel=9)
    return Bundle(buffer.getvalue())


def _collect(folder: Traversable, prefix: str, files: dict[str, bytes]) -> None:
    for entry in folder.iterdir():
        path = f"{prefix}/{entry.name}"
        if entry.is_dir():
            if entry.name != "__pycache__":
                _collect(entry, path, files)
        elif entry.name.endswith(".py"):
            files[path] = entry.read_bytes()
