"""`python -m objbackup.sandbox [--host H] [--port P]`: the sandbox without the CLI."""

from __future__ import annotations

import argparse
import sys

from objbackup.sandbox.server import DEFAULT_HOST, DEFAULT_PORT, PortInUse, run

parser = argparse.ArgumentParser(prog="python -m objbackup.sandbox")
parser.add_argument("--host", default=DEFAULT_HOST)
parser.add_argument("--port", type=int, default=DEFAULT_PORT)
parser.add_argument("--fault-rate", type=float, default=0.0)
parser.add_argument("--fault-log")
arguments = parser.parse_args()
try:
    run(
        arguments.host,
        arguments.port,
        fault_rate=arguments.fault_rate,
        fault_log=arguments.fault_log,
    )
except PortInUse as exc:
    sys.exit(f"Error: {exc}\nHint: {exc.hint}")
