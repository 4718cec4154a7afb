"""A 100 MB body against the real server (uvicorn in a child process, loopback): refused
before it is read, the server's peak memory grows by less than 20 MB (issue 14, finding 3).
The same measurement is printed by ``bench/big_body.py``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[3] / "bench" / "big_body.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("big_body", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("big_body", module)
    spec.loader.exec_module(module)
    return module


def test_a_100_mb_body_does_not_grow_the_server() -> None:
    bench = _bench()
    server = bench.Server()
    try:
        rows = bench.measure(server, 100 * bench.MB)
    finally:
        server.close()
    by_case = {name: (status, grown_kb) for name, status, _, grown_kb in rows}
    assert by_case["JSON, Content-Length"][0] == 413
    assert by_case["multipart, Content-Length, anonymous"][0] == 413
    assert by_case["multipart, chunked, anonymous"][0] == 401
    assert by_case["multipart, chunked, upload token"][0] == 413
    for name, (_, grown_kb) in by_case.items():
        assert grown_kb < 20 * 1024, (name, grown_kb)
