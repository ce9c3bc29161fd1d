"""One module per command: a Typer command function that parses, and a `run` that does the work."""
