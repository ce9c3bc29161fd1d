"""End-to-end fixtures: `objbackup sandbox` in its own process, and the tools a user would run
against it (the AWS CLI from the `awscli` package, and the `objbackup` console script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from objbackup.sandbox.server import free_port

BIN = Path(sys.executable).parent


@dataclass
class Tools:
    """Runs the user's commands against one sandbox, with its environment exported."""

    endpoint_url: str
    env: dict[str, str]

    def run(
        self, *args: str, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def objbackup(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "objbackup"), *args, check=check)

    def objbackup_json(self, *args: str) -> Any:
        return json.loads(self.objbackup(*args, "--json").stdout)

    def aws(self, *args: str) -> subprocess.CompletedProcess[str]:
        # The AWS CLI v1 ignores AWS_ENDPOINT_URL for some services (sqs): always pass it.
        return self.run(str(BIN / "aws"), "--endpoint-url", self.endpoint_url, *args)

    def aws_json(self, *args: str) -> Any:
        out = self.aws(*args, "--output", "json").stdout
        return json.loads(out) if out.strip() else {}

    def copies(self, key: str) -> list[dict[str, Any]]:
        """`objbackup list KEY --json`: the key's copies, newest first."""
        listed = self.objbackup_json("list", key)
        assert listed["object"] == key, "list must answer for the very key it was asked"
        copies: list[dict[str, Any]] = listed["copies"]
        return copies

    def active(self, key: str) -> list[dict[str, Any]]:
        """The key's active copies, newest first."""
        return [c for c in self.copies(key) if c["status"] == "active"]

    def bucket_keys(self, bucket: str) -> list[str]:
        """Every key in `bucket`, sorted, as the AWS CLI lists them."""
        listed = self.aws_json("s3api", "list-objects-v2", "--bucket", bucket)
        return sorted(o["Key"] for o in listed.get("Contents", []))

    def queue_settled(self, queue_url: str) -> bool:
        """No message waiting and none in flight: every delivery has been handled."""
        attributes = self.aws_json(
            "sqs",
            "get-queue-attributes",
            "--queue-url",
            queue_url,
            "--attribute-names",
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
        )["Attributes"]
        return all(value == "0" for value in attributes.values())


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tools]:
    port = free_port()
    home = tmp_path_factory.mktemp("home")
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "OBJBACKUP_NAME": "e2e",
        "LANG": "C.UTF-8",
    }
    if os.environ.get("PYTHONPATH"):  # a worktree's code, not the installed one's
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    log = (home / "sandbox.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "objbackup"), "sandbox", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert "ready" in ready, f"sandbox did not start: {ready!r}"
        yield Tools(f"http://127.0.0.1:{port}", env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
