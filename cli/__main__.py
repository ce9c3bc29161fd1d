"""`python -m cli`: the same as the `objbackup` console script."""

from cli.app import main

main()
