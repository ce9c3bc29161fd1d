"""`objbackup sandbox` as a user runs it: a taken port fails at once, and SIGINT or SIGTERM stop
the server, its worker processes and its temporary folder within seconds, whatever it is doing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config

from objbackup.sandbox.process import OBJBACKUP, sandbox_process
from tests.polling import wait_for
from tests.sandbox.conftest import SandboxClients, create_function, function_zip, lambda_role

if TYPE_CHECKING:
    from types_boto3_lambda import LambdaClient

SLEEPER = """
import time

def handler(event, context):
    time.sleep(event.get("sleep", 50))  # a batch from SQS sleeps too
    return "done"
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_ACCESS_KEY_ID"] = env["AWS_SECRET_ACCESS_KEY"] = "sandbox"
    return env


@pytest.fixture
def started() -> Iterator[tuple[subprocess.Popen[str], int]]:
    with sandbox_process(_env()) as running:
        yield running.process, running.port


def _clients(port: int) -> SandboxClients:
    session = boto3.Session(
        aws_access_key_id="sandbox", aws_secret_access_key="sandbox", region_name="us-east-1"
    )
    config = Config(read_timeout=120, retries={"max_attempts": 1})
    return SandboxClients(session, f"http://127.0.0.1:{port}", config)


def _deploy_sleeper(port: int) -> LambdaClient:
    clients = _clients(port)
    create_function(clients, "sleeper", SLEEPER, lambda_role(clients, "sleeper"), timeout=60)
    return clients("lambda")


def _rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0])


@pytest.mark.timeout(240)
def test_twenty_deploy_and_teardown_cycles_hold_no_more_than_one(
    started: tuple[Any, int],
) -> None:
    """Each cycle deploys a function, invokes it, replaces its code, invokes it again and
    deletes it: no worker of a replaced or deleted function survives, and the sandbox's memory
    after cycle 20 is that after cycle 1 (give or take its allocator)."""
    process, port = started
    clients = _clients(port)
    client = _deploy_sleeper(port)  # creates the role; the function itself is not used here
    role = clients("iam").get_role(RoleName="sleeper")["Role"]["Arn"]
    roots: set[Path] = set()
    after_first = 0
    for cycle in range(1, 21):
        source = f"def handler(event, context):\n    return {cycle}\n"
        create_function(clients, "cycled", source, role)
        assert json.loads(client.invoke(FunctionName="cycled")["Payload"].read()) == cycle
        [first] = _children(process.pid)
        roots.add(_worker_root(first))
        replaced = f"def handler(event, context):\n    return -{cycle}\n"
        client.update_function_code(FunctionName="cycled", ZipFile=function_zip(replaced))
        wait_for(partial(_gone, first), timeout=10, what="the replaced code's worker to stop")
        assert json.loads(client.invoke(FunctionName="cycled")["Payload"].read()) == -cycle
        client.delete_function(FunctionName="cycled")
        wait_for(
            lambda: not _children(process.pid), timeout=10, what="the deleted function's worker"
        )
        if cycle == 1:
            after_first = _rss_kb(process.pid)
    [root] = roots
    assert list(root.iterdir()) == [], "bundles of deleted functions are still unpacked"
    grown = _rss_kb(process.pid) - after_first
    assert grown < 20 * 1024, f"the sandbox grew {grown} kB over 19 cycles"


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc: psutil is not a dependency)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _gone(pid: int) -> bool:
    return not _alive(pid)


def _worker_root(worker: int) -> Path:
    """The sandbox's temporary folder, from a worker's command line (its code directory)."""
    arguments = Path(f"/proc/{worker}/cmdline").read_bytes().split(b"\0")
    code_dir = Path(arguments[3].decode())
    assert code_dir.name and code_dir.parent.name.startswith("objbackup-sandbox-")
    return code_dir.parent


def _stops_cleanly(process: subprocess.Popen[str], sig: int) -> None:
    workers = _children(process.pid)
    assert workers, "the test needs a worker process to see it stopped"
    root = _worker_root(workers[0])
    assert root.is_dir()
    began = time.monotonic()
    process.send_signal(sig)
    process.wait(timeout=10)
    assert time.monotonic() - began < 5, "the sandbox took too long to stop"
    assert not [w for w in workers if _alive(w)], "worker processes outlived the sandbox"
    assert not root.exists(), "the temporary folder was left behind"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_sandbox_while_its_functions_run(
    started: tuple[Any, int], sig: int
) -> None:
    """A poller's batch and a direct invoke both sleep in their workers when the signal comes:
    neither may hold the sandbox until the function's 60 s timeout."""
    process, port = started
    client = _deploy_sleeper(port)
    sqs = _clients(port)("sqs")
    url = sqs.create_queue(QueueName="sleepy")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    client.create_event_source_mapping(EventSourceArn=arn, FunctionName="sleeper", BatchSize=1)
    for _ in range(2):
        sqs.send_message(QueueUrl=url, MessageBody="{}")
    threading.Thread(target=_call_quietly, args=(client, {"sleep": 50}), daemon=True).start()
    wait_for(lambda: len(_children(process.pid)) >= 3, timeout=30, what="three busy workers")
    _stops_cleanly(process, sig)


def _call_quietly(client: LambdaClient, event: dict[str, Any]) -> None:
    # The sandbox is stopped under this call on purpose.
    with contextlib.suppress(Exception):
        client.invoke(FunctionName="sleeper", Payload=json.dumps(event))


@pytest.mark.timeout(60)
def test_a_taken_port_fails_at_once_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        began = time.monotonic()
        done = subprocess.run(
            [str(OBJBACKUP), "sandbox", "--port", str(port)],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 1
    assert time.monotonic() - began < 15  # the interpreter's start-up, not a wait
    lines = done.stderr.strip().splitlines()
    assert lines[0] == f"Error: port {port} on 127.0.0.1 is in use", done.stderr
    assert lines[1].startswith("Hint:") and "--port" in lines[1]
    assert len(lines) == 2 and done.stdout == ""
