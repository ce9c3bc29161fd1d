"""moto's server itself: the request dispatch every call of every service goes through."""

from __future__ import annotations

from functools import cache

from objbackup.sandbox.patches.registry import Patch


def close_dispatch_cost_gap() -> None:
    """moto's server lists its package directory (one `isdir` per service, ~170) on every
    request, holding the lock every request takes; the list never changes while it runs."""
    from moto import backends

    original = backends.list_of_moto_modules

    @cache
    def modules() -> tuple[str, ...]:
        return tuple(original())

    backends.list_of_moto_modules = modules


PATCHES = (
    Patch(
        "moto-server",
        "dispatch-cost",
        "moto's server lists its ~170 service folders on every request, under the lock every "
        "request takes",
        ("tests/unit/test_backlog_costs.py::test_the_server_lists_its_services_once",),
        close_dispatch_cost_gap,
    ),
)
