"""How the suite is shared between pytest-xdist's processes (one per core).

xdist's ``loadfile`` sends whole files to a process, largest file (by test count) first.
Two things suit this suite better:

* every browser test (``tests/e2e``) runs in one process, so one ``nmrx demo`` serves them
  all (starting one costs tens of seconds) and they meet its state in a fixed order;
* units marked ``long_running`` go first, whatever their test count, so the few that take
  minutes start at once instead of beginning last and keeping one core busy alone;
* the crash test's runs (one per database) are units of their own, so they run side by side.
"""

from __future__ import annotations

import pytest
from xdist.scheduler import LoadScopeScheduling

E2E = "tests/e2e/"
ONE_UNIT_PER_TEST = ("tests/integration/settlement/test_settlement_crash.py",)


def scope_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its file, the whole browser suite, or itself."""
    path = nodeid.split("::", 1)[0]
    if path in ONE_UNIT_PER_TEST:
        return nodeid
    return E2E if path.startswith(E2E) else path


class SuiteScheduling(LoadScopeScheduling):
    """Units in collection order (``order_long_running_first`` has sorted it)."""

    def __init__(self, config: pytest.Config, log: object = None) -> None:
        config.option.loadscopereorder = False
        super().__init__(config, log)  # type: ignore[arg-type]

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)


SEED_CHECKS = "tests/e2e/test_demo.py"


def order_long_running_first(items: list[pytest.Item]) -> None:
    """Units with a ``long_running`` test first, each unit's tests kept together."""
    long_units = {scope_of(i.nodeid) for i in items if i.get_closest_marker("long_running")}
    items.sort(key=lambda item: scope_of(item.nodeid) not in long_units)
    # the browser tests share one demo: what it seeds is read before other tests trade in it
    items.sort(key=lambda item: not item.nodeid.startswith(SEED_CHECKS))
