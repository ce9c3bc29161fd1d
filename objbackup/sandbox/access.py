"""IAM enforcement in the sandbox: moto's access control, on for the principals created there.

A request signed with the access key of an IAM user or of an assumed role (the functions run with
their execution role's, see executor.py) is held to that principal's policies, as moto's access
control evaluates them (moto/iam/access_control.py: actions, resources, explicit denies). Any
other key is the operator's and acts as the account's administrator, as on LocalStack, so that
no credentials need to be set up; the sandbox's own pollers and schedulers, which act as AWS
services, use such a key too.

Where moto names no resource or checks one action for what AWS checks as several, the request
is authorised by what AWS authorises it by (objbackup/sandbox/iam_rules.py, with the sources).
Signatures are not verified (the key id and session token name the principal).

moto switches its access control on with INITIAL_NO_AUTH_ACTION_COUNT ("IAM-like Access
Control", https://github.com/getmoto/moto/blob/master/docs/docs/iam.rst), for every key alike: an
unknown key is then refused (InvalidClientTokenId). The sandbox hooks the same check instead
(ActionAuthenticatorMixin._authenticate_and_authorize_action), so that it can let the operator's
keys through; with the sandbox stopped, moto's own behaviour is back. The in-process tests
switch the same check on for a `with enforced():` block (tests/iam_access.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from objbackup.sandbox.iam_rules import requirements

_lock = threading.Lock()
_enforcing = 0
# Lists each allowed (principal ARN, action, resource) is appended to, while enforced() runs.
_recorders: list[list[tuple[str, str, str]]] = []


def enforce() -> None:
    """Turn enforcement on (counted: each call is undone by one relax())."""
    global _enforcing
    from objbackup.sandbox.patches.iam import ACCESS_CONTROL
    from objbackup.sandbox.patches.registry import install

    install(ACCESS_CONTROL)
    with _lock:
        _enforcing += 1


def relax() -> None:
    global _enforcing
    with _lock:
        _enforcing = max(0, _enforcing - 1)


def enforcing() -> bool:
    return _enforcing > 0


@contextmanager
def enforced(granted: list[tuple[str, str, str]] | None = None) -> Iterator[None]:
    """Enforcement on for the block (in process, under mock_aws, as in the sandbox's server);
    each (principal ARN, action, resource) allowed meanwhile is appended to `granted`."""
    enforce()
    if granted is not None:
        _recorders.append(granted)
    try:
        yield
    finally:
        if granted is not None:
            _recorders.remove(granted)
        relax()


def hook_authorization() -> None:
    """Route moto's authorization check through `_authorize` while enforcing (installed once, as
    the patch `iam/access-control` of objbackup/sandbox/patches)."""
    from moto.core.authorization import ActionAuthenticatorMixin

    original = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if not enforcing():
            return original(self, iam_request_cls, resource)
        _authorize(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize  # type: ignore[method-assign]


def _authorize(response: Any, iam_request_cls: type, resource: str) -> None:
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import CreateAccessKeyFailure, create_access_key
    from moto.utilities.utils import get_partition

    headers = response.headers
    if headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return
    if "Authorization" not in headers:
        return  # unsigned and presigned requests: not evaluated (DESIGN.md, "IAM")
    account = response.current_account
    partition = get_partition(_region(headers) or "us-east-1")
    try:
        principal = create_access_key(account, partition, response.get_access_key(), headers)
    except CreateAccessKeyFailure as failure:
        if failure.reason == "InvalidId":
            return  # not a key the sandbox issued: the operator, the account's administrator
        principal = None  # a known key with a wrong session token: moto refuses it below
    request = iam_request_cls(
        account_id=account,
        method=response.method,
        path=response.raw_path,
        data=response.data,
        body=response.raw_body,
        headers=headers,
        action=response._get_action(),
    )
    json_protocol = _json_protocol(response)
    _refuse_expired(response, principal, account, partition, json_protocol)
    service = request._service
    for action, arn in requirements(response, service, request._action, resource):
        request._action = action
        try:
            request.check_action_permitted(arn)
        except _missing_entity():
            _deny(request, action, arn, json_protocol)  # its role does not exist (any more)
        except _http_exception() as denied:
            if getattr(denied, "error_type", None) == "AccessDenied":
                _deny(request, action, arn, json_protocol)
            raise
        for granted in list(_recorders):
            granted.append((str(request._access_key.arn), action, arn))


def _json_protocol(response: Any) -> bool:
    """Whether the service speaks AWS JSON (DynamoDB, KMS, SQS...) rather than query or XML."""
    return "x-amz-json" in str(response.headers.get("Content-Type", ""))


def _deny(request: Any, action: str, resource: str, json_protocol: bool) -> None:
    """moto's refusal, in the JSON shape JSON services answer ("AccessDeniedException", HTTP 400,
    e.g. DynamoDB's "Common Errors",
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/CommonErrors.html). SQS, JSON
    but query-compatible, names it by its query code, which botocore reports: AccessDenied."""
    if not json_protocol:
        request._raise_access_denied()
    from moto.core.exceptions import JsonRESTError

    raise JsonRESTError(
        "AccessDenied" if request._service == "sqs" else "AccessDeniedException",
        f"User: {request._access_key.arn} is not authorized to perform: {action} on resource: "
        f"{resource} because no identity-based policy allows the {action} action",
    )


def _http_exception() -> type[Exception]:
    from werkzeug.exceptions import HTTPException

    return HTTPException


def _missing_entity() -> type[Exception]:
    from moto.iam.exceptions import NotFoundException

    return NotFoundException


def _region(headers: Any) -> str | None:
    scope = str(headers.get("Authorization", "")).partition("Credential=")[2].split(",")[0]
    parts = scope.split("/")
    return parts[2] if len(parts) > 2 else None


def _refuse_expired(
    response: Any, principal: Any, account: str, partition: str, json_protocol: bool
) -> None:
    """STS credentials stop working when they expire ("Requesting temporary security
    credentials", IAM User Guide: "the credentials expire ... after that they can't be used");
    moto never checks, and the executor's renewal is only proven if they do."""
    from moto.iam.access_control import AssumedRoleAccessKey
    from moto.sts.models import sts_backends

    if not isinstance(principal, AssumedRoleAccessKey):
        return
    found = sts_backends[account][partition].get_assumed_role_from_access_key(
        principal._access_key_id
    )
    if found is None:
        return
    expiration = found.expiration
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=UTC)
    if expiration > datetime.now(UTC):
        return
    message = "The provided token has expired."
    if response.service_name == "s3":
        from moto.s3.exceptions import S3ClientError

        raise S3ClientError("ExpiredToken", message)
    from moto.core.exceptions import JsonRESTError, _RESTError

    # "ExpiredTokenException: The security token included in the request is expired", HTTP 403
    # (Common Errors, https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html).
    error = (
        JsonRESTError("ExpiredTokenException", message)
        if json_protocol
        else _RESTError("ExpiredToken", message)
    )
    error.code = 403
    raise error
