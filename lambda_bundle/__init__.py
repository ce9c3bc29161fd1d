"""Lambda entry points; at deploy time they sit at the root of the bundle zip."""
