"""Hypothesis profiles: "ci" runs each property test's full example count (`make test`), "dev" a
tenth of it (`make check`, the fast loop). Pick one with pytest's `--hypothesis-profile`."""

from __future__ import annotations

from hypothesis import settings

# Hypothesis's own default: "ci" keeps it, so `make test` proves what it proved before the profiles.
CI_EXAMPLES = 100
DEV_EXAMPLES = 10

settings.register_profile("ci", max_examples=CI_EXAMPLES)
settings.register_profile("dev", max_examples=DEV_EXAMPLES)


def examples(full: int) -> int:
    """A test's example count: `full` under "ci", the same share of it under a smaller profile.

    A count set in a test's own `settings(...)` overrides any profile, so tests that set one pass
    it through here; tests that set none follow the profile's `max_examples` directly.
    """
    assert settings.default is not None  # a profile is loaded (tests/conftest.py)
    return max(1, full * settings.default.max_examples // CI_EXAMPLES)
