"""`python -m cli`: the same as the `objbackup` console script."""

from objbackup.cli.app import main

main()
