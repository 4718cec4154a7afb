"""How much the server grows when someone sends it a 100 MB body.

    .venv/bin/python bench/big_body.py [--mb 100]

Starts the real application under uvicorn in a child process (demo settings, SQLite in a
temporary directory) and sends, over raw loopback sockets, 100 MB bodies that it must refuse:

* JSON to ``POST /api/v1/orders`` with a ``Content-Length`` (limit 64 KB),
* multipart to ``POST /api/v1/models/1/uploads`` with a ``Content-Length``, anonymous,
* the same streamed with ``Transfer-Encoding: chunked`` (no length to refuse on), anonymous
  and with an upload token (the app reads up to the 50 MB file limit, then refuses).

For each it prints the answer, how much of the body the server took before answering, and
the growth of the server's peak resident memory (``VmHWM``, reset before each request
through ``/proc/PID/clear_refs``). Linux only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MB = 1024 * 1024
PASSWORD = "correct-horse-battery"


def settings(work: Path):  # type: ignore[no-untyped-def]
    from nmrx.platform.config import Settings

    return Settings(
        demo=True, database_url=f"sqlite:///{work / 'nmrx.sqlite3'}", data_dir=work / "data"
    )


def make_app():  # type: ignore[no-untyped-def]
    """The application of the work directory in ``NMRX_BENCH_DIR`` (uvicorn's factory)."""
    from nmrx.app import create_app
    from nmrx.platform.bootstrap import bootstrap

    return create_app(bootstrap(settings(Path(os.environ["NMRX_BENCH_DIR"])), migrate=False))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def peak_rss_kb(pid: int) -> int:
    return _kb(pid, "VmHWM")


def post_raw(
    port: int, path: str, total: int, *, chunked: bool, headers: dict[str, str]
) -> tuple[int, int]:
    """POST ``total`` bytes; returns (status, bytes sent before the server answered (socket buffers included))."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    prefix = headers.get("X-Bench-Prefix", "").encode()  # the start of the body, not a header
    lines += [f"{k}: {v}" for k, v in headers.items() if k != "X-Bench-Prefix"]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    block = b"x" * MB
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            while sent < total:
                sock.settimeout(0.0)
                try:  # an answer already? then the server refused without reading the rest
                    if sock.recv(1, socket.MSG_PEEK):
                        break
                except BlockingIOError:
                    pass
                sock.settimeout(30)
                n = min(MB, total - sent)
                data = (prefix + block)[:n] if sent == 0 else block[:n]
                sock.sendall(b"%x\r\n%s\r\n" % (n, data) if chunked else data)
                sent += n
            if sent >= total and chunked:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(30)
        reply = b""
        try:
            while b"\r\n" not in reply:
                got = sock.recv(4096)
                if not got:
                    break
                reply += got
        except (ConnectionResetError, TimeoutError):
            pass
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0
    return status, sent


def upload_token(work: Path) -> str:
    from nmrx.accounts import service as accounts
    from nmrx.platform.bootstrap import bootstrap

    c = bootstrap(settings(work))
    who = accounts.register(c.db, username="bench-seller", password=PASSWORD)
    token, _ = accounts.create_token(c.db, user_id=who.user_id, name="bench", scopes="upload")
    c.close()
    return token


class Server:
    def __init__(self) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="nmrx-big-body-"))
        self.port = free_port()
        self.token = upload_token(self.work)
        env = {**os.environ, "PYTHONWARNINGS": "ignore", "NMRX_BENCH_DIR": str(self.work)}
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(self.port)], env=env
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            self.close()
            raise RuntimeError("the server did not start")
        for _ in range(3):  # warm up: imports, first requests
            post_raw(self.port, "/api/v1/orders", 100, chunked=False, headers={})

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.work, ignore_errors=True)


MULTIPART = "multipart/form-data; boundary=x"
FILE_PART = (
    '--x\r\nContent-Disposition: form-data; name="file"; filename="p.csv"\r\n'
    "Content-Type: text/csv\r\n\r\n"
)


def cases(token: str) -> list[tuple[str, str, bool, dict[str, str]]]:
    return [
        ("JSON, Content-Length", "/api/v1/orders", False, {"Content-Type": "application/json"}),
        (
            "multipart, Content-Length, anonymous",
            "/api/v1/models/1/uploads",
            False,
            {"Content-Type": MULTIPART},
        ),
        (
            "multipart, chunked, anonymous",
            "/api/v1/models/1/uploads",
            True,
            {"Content-Type": MULTIPART},
        ),
        (
            "multipart, chunked, upload token",
            "/api/v1/models/1/uploads",
            True,
            {
                "Content-Type": MULTIPART,
                "Authorization": f"Bearer {token}",
                "X-Bench-Prefix": FILE_PART,
            },
        ),
    ]


def measure(server: Server, total: int) -> list[tuple[str, int, int, int]]:
    """(case, status, bytes taken, peak RSS growth in KB) per case."""
    rows = []
    for name, path, chunked, headers in cases(server.token):
        pid = server.process.pid
        reset_peak(pid)
        before = peak_rss_kb(pid)
        status, sent = post_raw(server.port, path, total, chunked=chunked, headers=headers)
        time.sleep(0.2)
        rows.append((name, status, sent, peak_rss_kb(pid) - before))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=100, help="body size in MB")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        import uvicorn

        sys.path.insert(0, str(Path(__file__).parent))
        uvicorn.run(
            "big_body:make_app",
            factory=True,
            host="127.0.0.1",
            port=args.serve,
            log_level="warning",
            access_log=False,
        )
        return
    server = Server()
    try:
        print(f"a {args.mb} MB body against the NMRX server (uvicorn, pid {server.process.pid})")
        print(f"{'case':40} {'status':>6} {'sent':>10} {'peak RSS growth':>16}")
        for name, status, sent, grown in measure(server, args.mb * MB):
            print(f"{name:40} {status:>6} {sent / MB:>8.1f}MB {grown / 1024:>14.1f}MB")
    finally:
        server.close()


if __name__ == "__main__":
    main()
