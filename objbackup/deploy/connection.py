"""Where a deployment lives (account, region, endpoint) and the clients that reach it.

Everything that talks to AWS for the CLI takes a Connection; tests build one over a moto session
or hand it ready-made clients.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ProfileNotFound

from objbackup.deploy.errors import AwsSetupError
from objbackup.deploy.stacks import DEFAULT_NAME, StackNames

if TYPE_CHECKING:  # the stubs are a dev dependency: nothing imports them at run time
    from types_boto3_cloudformation import CloudFormationClient
    from types_boto3_cloudwatch import CloudWatchClient
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_events import EventBridgeClient
    from types_boto3_iam import IAMClient
    from types_boto3_kms import KMSClient
    from types_boto3_lambda import LambdaClient
    from types_boto3_logs import CloudWatchLogsClient
    from types_boto3_resourcegroupstaggingapi import ResourceGroupsTaggingAPIClient
    from types_boto3_s3 import S3Client
    from types_boto3_sns import SNSClient
    from types_boto3_sqs import SQSClient
    from types_boto3_ssm import SSMClient
    from types_boto3_sts import STSClient

# An operator waits at the terminal: a connection is given 2 s (AWS answers in far less), and an
# endpoint that cannot be reached is retried once (fail_fast_when_unreachable), while throttling
# and 5xx answers keep standard mode's 8 attempts.
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8}, connect_timeout=2, read_timeout=60
)
# A synchronous invoke waits for the function, whose timeout is at most 900 s.
_LAMBDA_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=910
)
_UNREACHABLE_ATTEMPTS = 2
_Client = TypeVar("_Client", bound=BaseClient)


def fail_fast_when_unreachable(
    attempts: int, caught_exception: BaseException | None = None, **_: Any
) -> None:
    """A `needs-retry` handler that ends the call once a connection failed twice (a connect
    timeout at once: it has already waited its 2 s), else leaves the retry handler to decide.

    It ends the call by raising the connection error: an exception raised by a handler leaves
    botocore's event emitter and the endpoint's retry loop alike. Returning False would not do on
    every botocore the floors allow: on 1.41.1 `Endpoint._needs_retry` takes a handler's False for
    a delay of 0 s and retries forever (later releases stop on it)."""
    if isinstance(caught_exception, ConnectTimeoutError):
        raise caught_exception
    if isinstance(caught_exception, EndpointConnectionError) and attempts >= _UNREACHABLE_ATTEMPTS:
        raise caught_exception


def session_client(session: boto3.Session | None, service: str, **options: Any) -> BaseClient:
    """`session.client(service, **options)` (boto3's default session for None) for a service named
    at run time: the stubs type `Session.client` for literal names only."""
    make: Callable[..., BaseClient] = boto3.client if session is None else session.client
    return make(service, **options)


class ServiceClients:
    """`client(service)` typed by the service's name; a subclass builds the client (`_client`)."""

    @overload
    def client(self, service: Literal["cloudformation"]) -> CloudFormationClient: ...
    @overload
    def client(self, service: Literal["cloudwatch"]) -> CloudWatchClient: ...
    @overload
    def client(self, service: Literal["dynamodb"]) -> DynamoDBClient: ...
    @overload
    def client(self, service: Literal["events"]) -> EventBridgeClient: ...
    @overload
    def client(self, service: Literal["iam"]) -> IAMClient: ...
    @overload
    def client(self, service: Literal["kms"]) -> KMSClient: ...
    @overload
    def client(self, service: Literal["lambda"]) -> LambdaClient: ...
    @overload
    def client(self, service: Literal["logs"]) -> CloudWatchLogsClient: ...
    @overload
    def client(
        self, service: Literal["resourcegroupstaggingapi"]
    ) -> ResourceGroupsTaggingAPIClient: ...
    @overload
    def client(self, service: Literal["s3"]) -> S3Client: ...
    @overload
    def client(self, service: Literal["sns"]) -> SNSClient: ...
    @overload
    def client(self, service: Literal["sqs"]) -> SQSClient: ...
    @overload
    def client(self, service: Literal["ssm"]) -> SSMClient: ...
    @overload
    def client(self, service: Literal["sts"]) -> STSClient: ...
    def client(self, service: str) -> BaseClient:
        return self._client(service)

    def _client(self, service: str) -> BaseClient:
        raise NotImplementedError


class Connection(ServiceClients):
    """One deployment's name and the AWS session, region and endpoint it is reached through."""

    def __init__(
        self,
        name: str = DEFAULT_NAME,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        session: boto3.Session | None = None,
        clients: Mapping[str, BaseClient] | None = None,
    ) -> None:
        self.names = StackNames(name)
        self._region = region
        self._profile = profile
        self.endpoint_url = endpoint_url or None
        self._session = session
        self._clients: dict[str, BaseClient] = dict(clients or {})
        self._checked = False

    @property
    def name(self) -> str:
        return self.names.name

    @property
    def session(self) -> boto3.Session:
        """The boto3 session (built on first use); AwsSetupError for an unknown profile."""
        if self._session is None:
            try:
                self._session = boto3.Session(profile_name=self._profile, region_name=self._region)
            except ProfileNotFound:
                raise AwsSetupError(
                    f"AWS profile {self._profile!r} not found",
                    "pass an existing --profile (see `aws configure list-profiles`) or unset "
                    "AWS_PROFILE",
                ) from None
        return self._session

    @property
    def region(self) -> str:
        """The region asked for, else the session's; AwsSetupError when there is none."""
        region = self._region or self.session.region_name
        if not region:
            raise AwsSetupError(
                "no AWS region configured", "pass --region or set AWS_REGION (e.g. us-east-1)"
            )
        return str(region)

    def _client(self, service: str) -> BaseClient:
        """A client for `service` (built once), after checking that credentials exist."""
        if service not in self._clients:
            region = self.region
            self._check_credentials()
            config = _LAMBDA_CONFIG if service == "lambda" else _CONFIG
            kwargs: dict[str, Any] = {"region_name": region, "config": config}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            self._clients[service] = _fail_fast(session_client(self.session, service, **kwargs))
        return self._clients[service]

    def one_shot_client(self, service: Literal["sqs"]) -> SQSClient:
        """A client that tries each call once: to probe an API the endpoint may not have."""
        kwargs: dict[str, Any] = {
            "region_name": self.region,
            "config": _CONFIG.merge(Config(retries={"mode": "standard", "max_attempts": 1})),
        }
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        self.client(service)  # checks the credentials
        return _fail_fast(self.session.client(service, **kwargs))

    def _check_credentials(self) -> None:
        if self._checked:
            return
        if self.session.get_credentials() is None:
            raise AwsSetupError(
                "no AWS credentials found",
                "run `aws configure`, pass --profile, or set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY",
            )
        self._checked = True


def _fail_fast(client: _Client) -> _Client:
    # Handlers of a more specific event run first: register beside the retry handler's own
    # `needs-retry.<service>`, ahead of it.
    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(f"needs-retry.{service}", fail_fast_when_unreachable)
    return client
