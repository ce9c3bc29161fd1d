"""objbackup: timestamped, self-pruning backups of every object of an S3 bucket.

`objbackup.core` is what runs inside the Lambda functions (and is all the bundle ships); the
operator modules, `deploy`, `sandbox` and `cli` sit above it (docs/DESIGN.md, Layout).
"""

# The one place the version is written: pyproject.toml reads it ([tool.setuptools.dynamic]) and
# `objbackup --version` prints it. Part of the Lambda bundle, so a new version redeploys the code.
__version__ = "0.1.0"
