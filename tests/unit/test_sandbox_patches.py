"""The registry of the sandbox's patches to moto (objbackup/sandbox/patches): each entry names
tests that exist, installing twice (or from many threads at once) patches once, and docs/DESIGN.md
lists every entry."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest

from objbackup.sandbox import patches
from objbackup.sandbox.patches import registry
from objbackup.sandbox.patches.registry import Patch

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- sandbox patches: begin -->", "<!-- sandbox patches: end -->"


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


def test_every_entry_says_why_and_names_tests_that_exist() -> None:
    keys = [patch.key for patch in patches.PATCHES]
    assert len(keys) == len(set(keys)), "two patches share a service/name"
    missing = []
    for patch in patches.PATCHES:
        assert patch.why.strip() and "\n" not in patch.why, patch.key
        assert patch.tests, f"{patch.key} names no test"
        for test in patch.tests:
            file, _, name = test.partition("::")
            path = ROOT / file
            if not (file.startswith("tests/") and path.is_file()):
                missing.append(f"{patch.key}: {test} (no such file)")
            elif name not in _test_functions(path):
                missing.append(f"{patch.key}: {test} (no such test)")
    assert not missing, "\n".join(missing)


def test_installing_twice_patches_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_installed", set())
    applied: list[str] = []
    first = Patch("test", "first", "why", ("t",), lambda: applied.append("first"))
    second = Patch("test", "second", "why", ("t",), lambda: applied.append("second"))
    registry.install(first)
    registry.install(first, second)
    registry.install(second, first)
    assert applied == ["first", "second"]
    assert registry.installed() == {"test/first", "test/second"}


def test_installing_from_many_threads_at_once_patches_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_installed", set())
    applied: list[int] = []
    arrived = threading.Condition()
    arrivals = 0

    def apply() -> None:
        # Held until every thread has asked: without the guard's lock each would apply it too.
        with arrived:
            arrived.wait_for(lambda: arrivals == 8, timeout=10)
        applied.append(1)

    patch = Patch("test", "contended", "why", ("t",), apply)

    def install() -> None:
        nonlocal arrivals
        with arrived:
            arrivals += 1
            arrived.notify_all()
        registry.install(patch)

    threads = [threading.Thread(target=install) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert arrivals == 8
    assert applied == [1]


def test_install_all_twice_leaves_moto_as_the_first_left_it() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.s3.responses import S3Response
    from moto.sqs.models import SQSBackend

    patches.install_all()
    wrapped = (
        S3Response.copy_object,
        S3Response.head_object,
        DynamoDBBackend.transact_write_items,
        SQSBackend.send_message,
    )
    patches.install_all()
    assert wrapped == (
        S3Response.copy_object,
        S3Response.head_object,
        DynamoDBBackend.transact_write_items,
        SQSBackend.send_message,
    )
    assert {patch.key for patch in patches.PATCHES} <= patches.installed()


def test_design_lists_every_patch() -> None:
    design = (ROOT / "docs" / "DESIGN.md").read_text()
    assert BEGIN in design and END in design
    listed = design.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert listed == patches.design_list(), (
        f"docs/DESIGN.md's list of sandbox patches is out of date; between its markers write:\n"
        f"{patches.design_list()}"
    )
