"""Turning failures into a one-line cause and a hint (exit 1); tracebacks only with --debug."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer
from typer.core import TyperGroup

from objbackup.cli.context import GlobalOptions

EXIT_FAILURE = 1
_DEBUG_HINT = "run again with --debug for the traceback"
# Typer carries its own copy of click: its usage error is BadParameter's base class.
UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)
# Exceptions the command-line framework turns into exit codes itself (usage errors exit 2).
_FRAMEWORK: tuple[type[BaseException], ...] = (
    typer.Exit,
    typer.Abort,
    *[c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"],
)


_MAX_CAUSE = 400


def explain(exc: BaseException) -> tuple[str, str | None]:
    """(cause, hint) for a failure the operator can act on; ours, botocore's, or unexpected.

    The cause is one line: whitespace (an HTML error page, say) is folded and long text cut.
    """
    from objbackup.core.errors import ObjbackupError

    if isinstance(exc, ObjbackupError):
        cause, hint = str(exc), getattr(exc, "hint", None)
    else:
        explained = _explain_botocore(exc)
        if explained is not None:
            cause, hint = explained
        else:
            cause, hint = f"unexpected {type(exc).__name__}: {exc}", _DEBUG_HINT
    cause = " ".join(cause.split())
    if len(cause) > _MAX_CAUSE:
        cause = cause[: _MAX_CAUSE - 3] + "..."
    return cause, hint


def _explain_botocore(exc: BaseException) -> tuple[str, str | None] | None:
    module = type(exc).__module__ or ""
    if not module.startswith("botocore"):
        return None
    from botocore import exceptions

    if isinstance(exc, exceptions.ClientError):
        error: Mapping[str, Any] = exc.response.get("Error", {})
        code = error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = error.get("Message") or str(exc)
        operation = getattr(exc, "operation_name", "")
        hint = None
        if code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId"):
            hint = "refresh your AWS credentials (e.g. `aws sso login`)"
        elif code == "RequestExpired":  # a signature too old: a skewed clock or a stale session
            hint = "check this machine's clock, or refresh your AWS credentials"
        elif code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            hint = "your AWS identity lacks a permission; see the message for which one"
        return f"AWS error {code} in {operation}: {message}", hint
    if isinstance(exc, exceptions.NoCredentialsError | exceptions.PartialCredentialsError):
        return (
            "no usable AWS credentials found",
            "run `aws configure`, pass --profile, or set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY",
        )
    if isinstance(exc, exceptions.NoRegionError):
        return "no AWS region configured", "pass --region or set AWS_REGION (e.g. us-east-1)"
    if isinstance(exc, exceptions.ProfileNotFound):
        return str(exc), "pass an existing --profile or unset AWS_PROFILE"
    if isinstance(exc, exceptions.EndpointConnectionError | exceptions.ConnectTimeoutError):
        return str(exc), "check your network, or --endpoint-url / AWS_ENDPOINT_URL"
    if isinstance(exc, exceptions.ReadTimeoutError):
        return str(exc), "AWS did not answer in time; run the command again"
    return f"{type(exc).__name__}: {exc}", _DEBUG_HINT


class ObjbackupGroup(TyperGroup):
    """The app's group: maps any failure of a command to a message and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command; a failure becomes a cause and a hint on stderr and exit code 1.

        With `--json` the failure is also a JSON document on stdout, `{"error", "hint",
        "exit_code"}`, usage errors (exit 2) included, so a script parses one format.
        """
        wants_json = _wants_json([*getattr(ctx, "_protected_args", []), *ctx.args])
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            if wants_json:
                code = int(getattr(exc, "exit_code", 2))
                exc.show()  # type: ignore[attr-defined]
                where = getattr(getattr(exc, "ctx", None), "command_path", "objbackup")
                _json_error(exc.format_message(), f"run `{where} --help`", code)  # type: ignore[attr-defined]
                raise typer.Exit(code) from None
            raise
        except _FRAMEWORK:
            raise
        except Exception as exc:
            options = ctx.find_object(GlobalOptions)
            if options is not None and options.debug:
                raise
            from objbackup.cli import render

            cause, hint = explain(exc)
            render.error(cause, hint)
            if wants_json:
                _json_error(cause, hint, EXIT_FAILURE)
            raise typer.Exit(EXIT_FAILURE) from None


def _wants_json(args: list[str]) -> bool:
    """Whether the command line asks for --json (options end at `--`)."""
    return "--json" in (args[: args.index("--")] if "--" in args else args)


def _json_error(cause: str, hint: str | None, exit_code: int) -> None:
    from objbackup.cli import render

    render.print_json({"error": cause, "hint": hint, "exit_code": exit_code})
