"""The embedded sandbox: moto in server mode plus the pieces of AWS behaviour moto lacks."""

# A response header the sandbox adds to every answer, so a client can tell it from AWS (deploy
# warns of what the sandbox does not do, e.g. fire cron(...) schedules).
SANDBOX_HEADER = "x-objbackup-sandbox"
