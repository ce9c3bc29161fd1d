"""The embedded sandbox: moto in server mode plus the pieces of AWS behaviour moto lacks."""
