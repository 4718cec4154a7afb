"""Every feature keeps its routes at home: ``<feature>/api.py`` (JSON) and ``<feature>/web.py``
(pages), all included by the app from one list; ``web/`` holds only the shell; a page never
imports another feature's API module."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import nmrx

SRC = Path(nmrx.__file__).parent
ROUTE_MODULES = sorted([*SRC.glob("*/api.py"), *SRC.glob("*/web.py")])


def _feature(path: Path) -> str:
    return path.parent.name


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_every_features_router_is_included_by_the_app() -> None:
    from nmrx.app import ROUTERS

    assert ROUTE_MODULES, "no feature routes found"
    for path in ROUTE_MODULES:
        module = importlib.import_module(f"nmrx.{_feature(path)}.{path.stem}")
        assert module.router in ROUTERS, f"{path.relative_to(SRC)} is not in app.ROUTERS"


def test_the_web_package_holds_only_the_shell() -> None:
    for path in (SRC / "web").glob("*.py"):
        assert "APIRouter" not in path.read_text(), f"{path.name}: pages belong to their feature"


def test_no_page_imports_another_features_api() -> None:
    for path in SRC.glob("*/web.py"):
        for name in _imported_modules(path):
            parts = name.split(".")
            if len(parts) >= 3 and parts[0] == "nmrx" and parts[2] == "api":
                assert parts[1] == _feature(path), f"{path.relative_to(SRC)} imports {name}"
