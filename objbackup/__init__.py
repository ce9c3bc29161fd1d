"""objbackup core: replicate, disown, clean and list backup copies of S3 objects.

This package runs both inside the Lambda functions and inside the CLI, so it imports boto3 and the
standard library only (never typer or rich).
"""

# The one place the version is written: pyproject.toml reads it ([tool.setuptools.dynamic]) and
# `objbackup --version` prints it. Part of the Lambda bundle, so a new version redeploys the code.
__version__ = "0.1.0"
