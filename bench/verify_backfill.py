"""Backfill and verify on the sandbox: objects that predate an adopting deploy are backfilled,
then verified, with the per-key Queries one at a time and eight at a time.

    .venv/bin/python -m bench.verify_backfill --objects 2000

Prints one JSON document: objects/s for backfill (send), until everything is backed up, verify,
and a second backfill (all skipped); API calls per object for verify.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.sandbox import running_sandbox
from objbackup.backfill import Backfill
from objbackup.core.config import Settings
from objbackup.core.table import CopyTable
from objbackup.verify import Verifier
from tests.harness import counting_calls
from tests.polling import wait_for
from tests.queue import queue_at_rest

BUCKET = "bench-legacy"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=2000)
    args = parser.parse_args()
    with running_sandbox("benchvb", threads=16) as d:
        s3, sqs, dynamodb = d.client("s3"), d.client("sqs"), d.client("dynamodb")
        s3.create_bucket(Bucket=BUCKET)
        keys = [f"legacy/{i:06}.txt" for i in range(args.objects)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: s3.put_object(Bucket=BUCKET, Key=k, Body=k.encode()), keys))
        d.run("deploy", "--yes", "--source-bucket", BUCKET)
        status = json.loads(d.run("status", "--json"))
        settings = Settings(BUCKET, status["backup_bucket"], status["table"])
        table = CopyTable(dynamodb, settings.table)
        result: dict[str, Any] = {"objects": args.objects}

        started = time.perf_counter()
        report = Backfill(s3, sqs, table, BUCKET, status["queue_url"]).run()
        sent = time.perf_counter() - started
        assert report.sent == args.objects, report.to_json()
        wait_for(lambda: queue_at_rest(sqs, status["queue_url"]), timeout=1800, what="backfill")
        done = time.perf_counter() - started
        result["backfill_send_objects_per_s"] = round(args.objects / sent, 1)
        result["backfill_until_backed_up_objects_per_s"] = round(args.objects / done, 1)

        for workers in (1, 8):
            verifier = Verifier(settings, s3, table, workers=workers)
            with counting_calls(s3, dynamodb) as calls:
                started = time.perf_counter()
                checked = verifier.run()
                took = time.perf_counter() - started
            assert checked.consistent, checked.to_json()["findings"][:5]
            result[f"verify_objects_per_s_workers_{workers}"] = round(args.objects / took, 1)
            result[f"verify_calls_workers_{workers}"] = dict(calls)
            started = time.perf_counter()
            again = Backfill(s3, sqs, table, BUCKET, status["queue_url"], workers=workers).run()
            took = time.perf_counter() - started
            assert again.sent == 0 and again.skipped == args.objects
            result[f"second_backfill_objects_per_s_workers_{workers}"] = round(
                args.objects / took, 1
            )
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
