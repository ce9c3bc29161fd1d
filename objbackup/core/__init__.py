"""What runs inside Lambda: the replicator and cleaner and everything they import.

The bundle is this package, `objbackup/__init__.py` and the two handlers, nothing else
(`objbackup.bundle`). It imports only the standard library, boto3, botocore and s3transfer: never
the operator modules beside it, the CLI, typer, rich or moto (the import-linter contract in
pyproject.toml, run by `make lint`).
"""
