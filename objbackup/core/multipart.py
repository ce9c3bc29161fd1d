"""A multipart copy that stops before the invocation's deadline and resumes where it stopped.

A big object can take longer to copy than one Lambda invocation lasts (S3 objects reach 5 TiB).
The copy name is a function of the event, so the upload in progress under that name, and the
parts it already holds, are S3's own record of the work done: ListMultipartUploads finds the
upload, ListParts its finished parts (number and ETag), and a redelivered event copies only the
missing parts, `workers` at a time, before CompleteMultipartUpload. Every part is copied with
`CopySourceIfMatch` on the event's ETag, so all parts come from one version of the source.

- ListMultipartUploads (Prefix):
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html
- ListParts: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListParts.html
- UploadPartCopy (CopySourceRange, CopySourceIfMatch, 412 when the condition fails):
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPartCopy.html
- Parts of 5 MiB to 5 GiB (the last may be smaller), at most 10,000 per upload:
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
- Clients are thread-safe, so the part copies share one:
  https://boto3.amazonaws.com/v1/documentation/api/latest/guide/clients.html#multithreading-or-multiprocessing-with-clients
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from objbackup.core.deadline import Deadline, OutOfTime

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import CopySourceTypeDef

# Parts copied at once: S3 copies each part server-side, so the invocation mostly waits on them.
DEFAULT_WORKERS = 10
# The arguments of a copy that CreateMultipartUpload does not take (they belong to the parts).
_COPY_ONLY = frozenset({"CopySourceIfMatch", "MetadataDirective", "TaggingDirective"})


class CopyStopped(OutOfTime):
    """The deadline stopped a resumable copy: how far it got, and how much of that was new."""

    def __init__(self, name: str, parts_done: int, parts_total: int, parts_new: int) -> None:
        super().__init__(f"{name}: {parts_done} of {parts_total} parts copied; resumes later")
        self.parts_done = parts_done
        self.parts_total = parts_total
        self.parts_new = parts_new  # finished in this invocation: 0 means no progress


def part_ranges(size: int, part_bytes: int) -> list[tuple[int, int]]:
    """The inclusive byte ranges of the parts, numbered from 1 in list order."""
    return [(start, min(start + part_bytes, size) - 1) for start in range(0, size, part_bytes)]


def uploads_of(s3: S3Client, bucket: str, name: str) -> list[str]:
    """The ids of the multipart uploads in progress under exactly `name`."""
    paginator = s3.get_paginator("list_multipart_uploads")
    return [
        str(upload["UploadId"])
        for page in paginator.paginate(Bucket=bucket, Prefix=name)
        for upload in page.get("Uploads", [])
        if upload.get("Key") == name
    ]


def abort_uploads(
    s3: S3Client, bucket: str, name: str, upload_ids: Iterable[str] | None = None
) -> int:
    """Abort the uploads in progress under `name` (or those of `upload_ids`); how many."""
    aborted = 0
    for upload_id in uploads_of(s3, bucket, name) if upload_ids is None else upload_ids:
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=name, UploadId=upload_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise
        aborted += 1
    return aborted


class ResumableCopy:
    """Copies one object into `bucket` in parts of `part_bytes`, resuming an earlier attempt."""

    def __init__(self, s3: S3Client, bucket: str, part_bytes: int, workers: int = DEFAULT_WORKERS):
        self.s3 = s3
        self.bucket = bucket
        self.part_bytes = part_bytes
        self.workers = workers

    def copy(
        self,
        source: CopySourceTypeDef,
        name: str,
        size: int,
        etag: str,
        create_args: dict[str, Any],
        deadline: Deadline | None,
        resume: bool = True,
    ) -> None:
        """Copy `source` (at `etag`, quoted) to `name`; CopyStopped when `deadline` stops it first.

        Without `resume`, an upload already under `name` is aborted rather than continued (its
        parts may come from another version of the source). Errors other than OutOfTime leave
        the upload for the next attempt; the caller aborts it when the source has changed.
        """
        ranges = part_ranges(size, self.part_bytes)
        upload_id, done = self._resume(name, ranges) if resume else (None, {})
        if upload_id is None:
            if not resume:
                abort_uploads(self.s3, self.bucket, name)
            args = {k: v for k, v in create_args.items() if k not in _COPY_ONLY}
            created = self.s3.create_multipart_upload(Bucket=self.bucket, Key=name, **args)
            upload_id = str(created["UploadId"])
        todo = [n for n in range(1, len(ranges) + 1) if n not in done]
        new = self._copy_parts(source, name, upload_id, etag, ranges, todo, deadline)
        done.update(new)
        if len(done) < len(ranges):
            raise CopyStopped(name, len(done), len(ranges), len(new))
        self.s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=name,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": done[n]} for n in sorted(done)]},
        )

    def _resume(
        self, name: str, ranges: list[tuple[int, int]]
    ) -> tuple[str | None, dict[int, str]]:
        """An upload to continue and its finished parts; other uploads under `name` are aborted.

        Parts are kept only if they match this copy's plan (same part size), so a changed part
        size starts over instead of completing a wrong object.
        """
        found = uploads_of(self.s3, self.bucket, name)
        if not found:
            return None, {}
        upload_id, extra = found[0], found[1:]
        if extra:  # two deliveries raced to start the copy: keep one upload
            abort_uploads(self.s3, self.bucket, name, extra)
        paginator = self.s3.get_paginator("list_parts")
        done: dict[int, str] = {}
        for page in paginator.paginate(Bucket=self.bucket, Key=name, UploadId=upload_id):
            for part in page.get("Parts", []):
                number = int(part["PartNumber"])
                start, end = ranges[number - 1] if 1 <= number <= len(ranges) else (0, -2)
                if int(part["Size"]) != end - start + 1:
                    abort_uploads(self.s3, self.bucket, name, [upload_id])
                    return None, {}
                done[number] = str(part["ETag"])
        return upload_id, done

    def _copy_parts(
        self,
        source: CopySourceTypeDef,
        name: str,
        upload_id: str,
        etag: str,
        ranges: list[tuple[int, int]],
        todo: list[int],
        deadline: Deadline | None,
    ) -> dict[int, str]:
        """Copy the parts of `todo`, `workers` at a time, starting none once `deadline` expired.

        Parts in flight are waited for; the first error is raised after they have finished.
        """
        done: dict[int, str] = {}

        def copy_part(number: int) -> tuple[int, str]:
            start, end = ranges[number - 1]
            answer = self.s3.upload_part_copy(
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=source,
                CopySourceIfMatch=etag,
                CopySourceRange=f"bytes={start}-{end}",
            )
            return number, str(answer["CopyPartResult"]["ETag"])

        def collect(finished: set[Future[tuple[int, str]]]) -> None:
            for future in finished:
                number, part_etag = future.result()
                done[number] = part_etag

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            pending: set[Future[tuple[int, str]]] = set()
            try:
                for number in todo:
                    if len(pending) >= self.workers:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        collect(finished)
                    if deadline is not None and deadline.expired():
                        break
                    pending.add(pool.submit(copy_part, number))
                finished, pending = wait(pending)
                collect(finished)
            finally:
                wait(pending)  # an error stops new parts; the ones in flight still finish
        return done
