"""The objbackup command-line tool."""
