"""A mass delete through the sandbox: N objects written and backed up, all deleted, every copy
disowned (checked by a Query on DisownedIndex against the backup bucket), then one clean that
must delete every copy and record; reports how long the cleaner took and its calls by operation.

    .venv/bin/python -m bench.mass_delete [--objects 5000] [--threads 16] [--json]

The cleaner's calls are counted on the sandbox side, by moto's request recorder (started just
before `objbackup clean --now` and stopped when it returns): every S3 and DynamoDB request the
server answered in that window, by operation. Nothing else calls S3 or DynamoDB then: the queue
is at rest, the benchmark waits, and the schedule is set to an hour so no scheduled run overlaps.
A botocore retry would be a second request, so retries are in these counts (none without faults).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit
from urllib.request import Request, urlopen

from bench.load import _nothing_to_clean, _peak_rss_mib, _wait
from bench.report import Figure, breakdown, emit
from bench.sandbox import deployed_sandbox
from tests.queue import queue_at_rest

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_s3 import S3Client


def operation(entry: dict[str, Any]) -> tuple[str, str]:
    """(service, operation) of one request moto's recorder wrote down."""
    headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
    target = headers.get("x-amz-target", "")
    scope = headers.get("authorization", "").split("Credential=")[-1].split(",")[0].split("/")
    service = scope[3] if len(scope) > 3 else "?"
    if target:
        return service, target.rsplit(".", 1)[-1]
    if service != "s3":
        query = parse_qs(urlsplit(entry.get("url", "")).query)
        return service, str(query.get("Action", ["?"])[0])
    method = entry.get("method", "")
    query = parse_qs(urlsplit(entry.get("url", "")).query, keep_blank_values=True)
    if method == "POST" and "delete" in query:
        return service, "DeleteObjects"
    if method == "GET" and "list-type" in query:
        return service, "ListObjectsV2"
    if method == "PUT" and "x-amz-copy-source" in headers:
        return service, "CopyObject"
    names = {"GET": "GetObject", "PUT": "PutObject", "DELETE": "DeleteObject", "HEAD": "HeadObject"}
    return service, names.get(method, method)


@contextmanager
def recording(url: str, path: Path) -> Iterator[Counter[str]]:
    """Count the S3 and DynamoDB requests the sandbox answers inside the block, by operation."""
    counts: Counter[str] = Counter()
    for action in ("reset-recording", "start-recording"):
        urlopen(Request(f"{url}/moto-api/recorder/{action}", method="POST"))
    try:
        yield counts
    finally:
        urlopen(Request(f"{url}/moto-api/recorder/stop-recording", method="POST"))
        for line in path.read_text().splitlines() if path.exists() else []:
            service, name = operation(json.loads(line))
            if service in ("s3", "dynamodb"):
                counts[f"{service}.{name}"] += 1


def _disowned(dynamodb: DynamoDBClient, table: str) -> list[dict[str, Any]]:
    pages = dynamodb.get_paginator("query").paginate(
        TableName=table,
        IndexName="DisownedIndex",
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "disowned"}},
    )
    return [item for page in pages for item in page["Items"]]


def _keys(s3: S3Client, bucket: str) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def _clean_lines(log: Path) -> list[dict[str, Any]]:
    found = []
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        if line.startswith("{") and '"event": "clean"' in line:
            found.append(json.loads(line))
    return found


def measure(objects: int, threads: int) -> tuple[list[Figure], dict[str, Any]]:
    scratch = Path(tempfile.mkdtemp(prefix="bench-mass-delete-"))
    record_path, function_log = scratch / "recording.jsonl", scratch / "sandbox.log"
    os.environ["MOTO_RECORDER_FILEPATH"] = str(record_path)  # the sandbox inherits it
    problems: list[str] = []
    with deployed_sandbox("massdel", threads, log=function_log) as sandbox:
        # no scheduled clean may overlap the measured one
        sandbox.run("deploy", "--yes", "--schedule", "rate(1 hour)")
        status = sandbox.status
        s3, sqs, dynamodb = sandbox.client("s3"), sandbox.client("sqs"), sandbox.client("dynamodb")
        source, backup, table = status["source_bucket"], status["backup_bucket"], status["table"]
        names = [f"mass/{n // 100:03d}/object {n}.bin" for n in range(objects)]

        started = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda k: s3.put_object(Bucket=source, Key=k, Body=k.encode()), names))
        _wait(lambda: queue_at_rest(sqs, status["queue_url"]), 3600, "the writes to be handled")
        write_phase = time.monotonic() - started
        copies = _keys(s3, backup)
        if len(copies) != objects:
            problems.append(f"{len(copies)} copies for {objects} objects before the delete")

        started = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda k: s3.delete_object(Bucket=source, Key=k), names))
        _wait(lambda: queue_at_rest(sqs, status["queue_url"]), 3600, "the deletes to be handled")
        disown_phase = time.monotonic() - started
        disowned = _disowned(dynamodb, table)
        if {i["copy_name"]["S"] for i in disowned} != copies:
            problems.append(f"{len(disowned)} disowned records for {len(copies)} copies")

        time.sleep(float(status["grace_seconds"]) + 1)  # the grace must pass before a clean
        before = len(_clean_lines(function_log))
        with recording(sandbox.url, record_path) as calls:
            clean_started = time.monotonic()
            report = json.loads(sandbox.run("clean", "--now", "--json"))
            clean_wall = time.monotonic() - clean_started
        _wait(lambda: _nothing_to_clean(dynamodb, table), 600, "cleaning to finish")
        lines = _clean_lines(function_log)[before:]
        if report["deleted"] != objects or report["failed"]:
            problems.append(f"the clean deleted {report['deleted']}, failed {report['failed']}")
        left = _keys(s3, backup)
        if left:
            problems.append(f"{len(left)} copies left in the backup bucket")
        peak = _peak_rss_mib(sandbox.pid)
        sandbox.run("teardown", "--yes")
    logged = lines[0] if lines else {}
    total = sum(calls.values())
    figures = [
        Figure("objects", objects, "objects", detail=f"{threads} client threads, 1 copy each"),
        Figure("written and backed up after", round(write_phase, 1), "s"),
        Figure(
            "deleted and disowned after",
            round(disown_phase, 1),
            "s",
            detail=f"{objects / disown_phase:.1f} deletes/s",
        ),
        Figure("disowned records (DisownedIndex)", len(disowned), "records"),
        Figure(
            "cleaner duration (its own log)",
            round(float(logged.get("duration_ms", 0)) / 1000, 2),
            "s",
            detail=f"clean --now took {clean_wall:.1f} s end to end",
        ),
        Figure(
            "cleaner calls (S3 + DynamoDB)",
            total,
            "calls",
            detail=breakdown(dict(calls)),
            extra={"calls": dict(calls)},
        ),
        Figure(
            "copies deleted", int(report["deleted"]), "copies", detail=f"failed {report['failed']}"
        ),
        Figure("sandbox peak memory", round(peak), "MiB", detail="VmHWM of the server process"),
        Figure("problems", len(problems), "problems", target=0),
    ]
    return figures, {"problems": problems, "clean_log": lines, "scratch": str(scratch)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mass_delete", description=__doc__)
    parser.add_argument("--objects", type=int, default=5_000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures, info = measure(args.objects, args.threads)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return emit(
        "mass_delete", f"Mass delete through the sandbox ({when})", figures, args.json, **info
    )


if __name__ == "__main__":
    sys.exit(main())
