"""`objbackup demo`: a narrated, checked end-to-end run on an embedded sandbox.

It starts a sandbox on a free port and then does what a user would: the `objbackup` commands run
as the user would type them (each shown before it runs), and the object writes and deletes go
through boto3 as the user's application would make them. Waiting for the replicator reads the
table with boto3 (what `objbackup list --json` shows, without a process per look). Every step is
checked; the first failed check ends the demo (after tearing down) with exit code 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.text import Text

T = TypeVar("T")
KEY = "reports/q4 summary.csv"
NAME = "demo"


class DemoFailed(Exception):
    """A check of the demo did not hold."""


class Demo:
    def __init__(self, console: Console, endpoint_url: str, region: str) -> None:
        from objbackup.sandbox.server import client_environment

        self.console = console
        self.env = {
            **os.environ,
            **client_environment(endpoint_url, region),
            "OBJBACKUP_NAME": NAME,
            # the commands' tables are shown inside the narration: give them room not to wrap
            "COLUMNS": str(max(console.width, 160)),
        }
        self.env.pop("AWS_PROFILE", None)
        import boto3

        session = boto3.Session(
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",  # noqa: S106 - the sandbox's fixed fake credentials
            region_name=region,
        )
        self.s3 = session.client("s3", endpoint_url=endpoint_url)
        self.dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
        self.table = ""
        self.deployed = False

    # --- running the user's commands ---

    def objbackup(self, *args: str) -> str:
        """Run one command as the user would, shown first; its stdout."""
        self.console.print(f"  [dim]$ objbackup {' '.join(_quote(a) for a in args)}[/dim]")
        return self.quiet(*args)

    def objbackup_json(self, *args: str) -> Any:
        return json.loads(self.objbackup(*args, "--json"))

    def copies(self) -> list[dict[str, Any]]:
        """The object's copies as `objbackup list KEY --json` shows them, read from the table."""
        from objbackup.core.table import CopyTable
        from objbackup.listing import list_copies

        copies: list[dict[str, Any]] = list_copies(CopyTable(self.dynamodb, self.table), KEY)[
            "copies"
        ]
        return copies

    def quiet(self, *args: str) -> str:
        """Run one command without showing it (the demo's own polling)."""
        done = subprocess.run(  # noqa: S603 - our own console script
            [sys.executable, "-m", "objbackup.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise DemoFailed(f"objbackup {' '.join(args)} exited {done.returncode}: {done.stderr}")
        return done.stdout

    def _newest_is(self, etag: str, retain: int) -> list[dict[str, Any]] | None:
        """The copies once the newest is `etag` and the oldest beyond `retain` are pruned (the
        replicator records the new copy before it prunes: a look in between sees one more)."""
        copies = self.copies()
        return copies if copies and copies[0]["etag"] == etag and len(copies) <= retain else None

    def _all_disowned(self) -> list[dict[str, Any]] | None:
        copies = self.copies()
        return copies if copies and all(c["status"] == "disowned" for c in copies) else None

    # --- narration ---

    def step(self, title: str) -> None:
        self.console.rule(f"[bold]{title}")

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.console.print(f"  [red]✗ {what}[/red]")
            raise DemoFailed(what)
        self.console.print(f"  [green]✓ {what}[/green]")

    # --- the story ---

    def run(self) -> None:
        self.step("1. Deploy the three stacks into the sandbox")
        self.objbackup("deploy", "--yes")
        self.deployed = True
        status = self.objbackup_json("status")
        stacks = status["stacks"]
        self.check(
            all(s.endswith("_COMPLETE") for s in stacks.values()),
            f"stacks {', '.join(f'{k} {v}' for k, v in stacks.items())}",
        )
        source, backup = status["source_bucket"], status["backup_bucket"]
        self.table = status["table"]
        grace = float(status["grace_seconds"])
        retain = int(status["retain"])

        self.step(f"2. Write five versions of {KEY!r}")
        for version in range(1, 6):
            etag = self.s3.put_object(
                Bucket=source, Key=KEY, Body=f"quarter,total\nq4,{version}00\n".encode()
            )["ETag"].strip('"')
            copies = _poll(
                partial(self._newest_is, etag, retain), f"version {version} to be backed up"
            )
            self.check(
                len(copies) == min(version, retain),
                f"version {version} backed up; {len(copies)} copies kept",
            )

        self.step("3. The newest three copies are kept")
        self.console.print(Text(self.objbackup("list", KEY), style="cyan"), soft_wrap=True)
        copies = self.copies()
        newest = self.s3.get_object(Bucket=backup, Key=copies[0]["copy_name"])["Body"].read()
        self.check(newest == b"quarter,total\nq4,500\n", "the newest copy holds version 5")
        listed = self.s3.list_objects_v2(Bucket=backup).get("Contents", [])
        self.check(
            sorted(o["Key"] for o in listed) == sorted(c["copy_name"] for c in copies),
            "the backup bucket holds exactly those three copies",
        )

        self.step("4. Delete the object: its copies are disowned, not deleted")
        self.s3.delete_object(Bucket=source, Key=KEY)
        copies = _poll(self._all_disowned, "the copies to be disowned")
        self.check(len(copies) == 3, "all three copies are disowned")
        last = max(_parse(c["disowned_at"]) for c in copies)

        self.step(f"5. A clean inside the {grace:g} s grace period keeps them")
        report = self.objbackup_json("clean", "--now")
        early = report["deleted"]
        ended = (datetime.now(UTC) - last).total_seconds()
        if ended < grace:
            # The clean ended inside the grace period, so it must have kept every copy.
            self.check(early == 0, "clean --now deleted nothing")
            self.check(len(self.copies()) == 3, "the three copies are still there")
        else:
            # A loaded machine can get here after the grace period: the clean may then delete.
            self.console.print(
                f"  [yellow]the clean ended {ended:.0f} s after the delete, past the grace "
                f"period: it was free to delete (deleted {early})[/yellow]"
            )
        self.console.print(Text(self.objbackup("list", "--disowned"), style="cyan"), soft_wrap=True)

        self.step("6. Wait out the grace period, then clean")
        wait = max(0.0, grace + 0.5 - (datetime.now(UTC) - last).total_seconds())
        with self.console.status(f"waiting {wait:.0f} s for the grace period to pass"):
            time.sleep(wait)  # the demo shows the grace period passing; nothing to poll for
        report = self.objbackup_json("clean", "--now")
        deleted = early + report["deleted"]
        self.check(deleted == 3, f"clean --now deleted {deleted} copies")
        self.check(self.copies() == [], "no copy of the object is left in the table")
        listed = self.s3.list_objects_v2(Bucket=backup).get("Contents", [])
        self.check(listed == [], "the backup bucket is empty")

        self.step("7. Tear everything down")
        self.objbackup("teardown", "--yes")
        self.deployed = False
        self.check(self.s3.list_buckets().get("Buckets", []) == [], "no bucket is left")


def _poll(probe: Callable[[], T | bool | None], what: str, timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _quote(arg: str) -> str:
    return f"'{arg}'" if " " in arg else arg


def run(console: Console | None = None) -> int:
    """Run the demo; return its exit code (0 when every check held)."""
    from objbackup.sandbox.server import Sandbox

    console = console or Console(stderr=True)
    started = time.monotonic()
    log = Path(os.devnull).open("w")  # noqa: SIM115 - closed below; the functions' own logs
    with Sandbox(port=0, function_log=log) as sandbox:
        console.print(f"[bold]objbackup demo[/bold]: an embedded sandbox at {sandbox.endpoint_url}")
        demo = Demo(console, sandbox.endpoint_url, sandbox.region)
        try:
            demo.run()
        except DemoFailed as exc:
            console.print(f"[red bold]demo failed:[/red bold] {exc}")
            if demo.deployed:
                subprocess.run(
                    [sys.executable, "-m", "objbackup.cli", "teardown", "--yes"],
                    env=demo.env,
                    capture_output=True,
                    check=False,
                )
            return 1
        finally:
            log.close()
    console.print(f"[green bold]demo passed[/green bold] in {time.monotonic() - started:.1f} s")
    return 0
