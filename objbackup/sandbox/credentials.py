"""The credentials a sandboxed function runs with: its execution role's, from the sandbox's STS.

Lambda gives each execution environment the access keys of the function's execution role in
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN ("Defined runtime environment
variables", https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
The executor asks for them once per worker (sts:AssumeRole, signed with the operator's key, which
the sandbox treats as the administrator: objbackup/sandbox/access.py) and retires a warm worker
before its credentials could expire during an invocation; the next one gets fresh ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types_boto3_sts import STSClient

# The operator's fixed fake key: any key the sandbox did not issue acts as the administrator.
OPERATOR_KEY = "sandbox"
# AssumeRole's default session length ("AssumeRole", DurationSeconds: 900 to the role's maximum,
# default 3600, https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html).
SESSION_SECONDS = 3600
# A worker is retired this long, plus its function's timeout, before its credentials expire.
RENEW_BEFORE_SECONDS = 300.0


@dataclass(frozen=True)
class Session:
    """Environment variables holding a role session's keys, and when (epoch seconds) they end."""

    environment: dict[str, str]
    expires: float = math.inf

    def usable_for(self, seconds: float, now: float, renew_before: float) -> bool:
        """Whether an invocation starting `now` and lasting up to `seconds` ends well before."""
        return now + seconds + renew_before < self.expires


OPERATOR = Session(
    {
        "AWS_ACCESS_KEY_ID": OPERATOR_KEY,
        "AWS_SECRET_ACCESS_KEY": OPERATOR_KEY,
        "AWS_SESSION_TOKEN": OPERATOR_KEY,
    }
)


@dataclass
class RoleSessions:
    """Assumes functions' execution roles through the sandbox's STS."""

    endpoint_url: str
    region: str
    seconds: int = SESSION_SECONDS
    _sts: STSClient | None = field(default=None, init=False, repr=False)

    def session(self, role_arn: str, function_name: str) -> Session:
        """A fresh session of `role_arn` (the operator's keys for a function without a role,
        which only the executor's own tests create)."""
        if not role_arn:
            return OPERATOR
        if self._sts is None:
            import boto3

            self._sts = boto3.client(
                "sts",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=OPERATOR_KEY,
                aws_secret_access_key=OPERATOR_KEY,
            )
        # RoleSessionName: 2 to 64 characters of [\w+=,.@-]; Lambda names the session after
        # the function, whose name (1 to 64 of [\w-]) fits once padded.
        answer = self._sts.assume_role(
            RoleArn=role_arn,
            RoleSessionName=function_name.ljust(2, "-")[:64],
            DurationSeconds=self.seconds,
        )
        keys = answer["Credentials"]
        return Session(
            {
                "AWS_ACCESS_KEY_ID": keys["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"],
                "AWS_SESSION_TOKEN": keys["SessionToken"],
            },
            keys["Expiration"].timestamp(),
        )
