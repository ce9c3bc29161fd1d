"""The prune after a lowered `retain`: every key back to `retain`, from a listing, crash-safe."""

from __future__ import annotations

import contextlib

from objbackup.retention import prune_over_retention
from tests.harness import Crash, Harness, crash_at


def write(system: Harness, key: str, versions: int) -> None:
    for version in range(versions):
        system.replicator.handle(system.put(key, f"{key} {version}".encode()))
        system.clock.advance(1)


def test_copies_of_a_key_split_by_another_keys_copies_are_all_counted(system: Harness) -> None:
    write(system, "a", 3)
    second = system.active("a")[1].copy_name
    # A key spelled like a's second copy name up to its sequencer: its copies sort between a's
    # second and third, so "a" shows as a run of 2 and a run of 1 in the listing.
    nested = second[: second.rindex("-")]
    write(system, nested, 1)
    system.s3.put_object(Bucket=system.settings.backup_bucket, Key="a@not-a-copy", Body=b"x")
    listed = sorted(system.backup_keys())
    assert listed.index(system.active(nested)[0].copy_name) == listed.index(second) + 1
    newest = [r.copy_name for r in system.active("a")][:2]

    lowered = system.with_settings(retain=2)
    report = prune_over_retention(lowered.settings, lowered.s3, lowered.table)

    assert (report.pruned, report.pruned_objects, report.checked, report.left) == (1, 1, 1, 0)
    assert report.listed == 5
    assert [r.copy_name for r in system.active("a")] == newest
    assert len(system.active(nested)) == 1
    assert "a@not-a-copy" in system.backup_keys()
    system.s3.delete_object(Bucket=system.settings.backup_bucket, Key="a@not-a-copy")
    lowered.check_invariants({"a", nested})


def test_a_hashed_key_is_found_through_the_source_or_left_for_verify(system: Harness) -> None:
    long_key, gone_key = "l/" + "x" * 1000, "g/" + "y" * 1000
    write(system, long_key, 3)
    write(system, gone_key, 3)
    system.s3.delete_object(Bucket=system.settings.source_bucket, Key=gone_key)
    lowered = system.with_settings(retain=1)
    report = prune_over_retention(lowered.settings, lowered.s3, lowered.table)
    assert (report.pruned, report.left) == (2, 1)
    assert len(system.active(long_key)) == 1 and len(system.active(gone_key)) == 3


def test_a_prune_stopped_at_any_call_converges_when_run_again(system: Harness) -> None:
    lowered = system.with_settings(retain=2)
    call, fired, every = 0, True, set()
    while fired:
        call += 1
        keys = {f"{call}/a", f"{call}/b"}  # fresh keys with 3 copies; earlier ones hold 2
        every |= keys
        for key in sorted(keys):
            write(system, key, 4)
        with crash_at(call, "after", system.s3, system.dynamodb) as crashed:
            with contextlib.suppress(Crash):
                prune_over_retention(lowered.settings, lowered.s3, lowered.table)
            fired = crashed()
        report = prune_over_retention(lowered.settings, lowered.s3, lowered.table, resume=True)
        assert report.left == 0
        lowered.check_invariants(every)
        assert [len(system.active(key)) for key in sorted(keys)] == [2, 2]
    # A listing, then per key (3 copies, retain 2) a Query and the deletes of a copy and its record.
    assert call == 1 + 2 * 3 + 1
