"""Ports for servers under test: free, below the ephemeral range, and really theirs."""

from __future__ import annotations

import contextlib
import os
import random
import socket
from pathlib import Path

_HANDED_OUT: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free port below the ephemeral range, never the same one twice in a process.

    Port 0 would hand out an ephemeral port, which any outgoing connection (a
    load run makes thousands) can take between this call and the server's bind.
    A port is only free until someone binds it: two calls in a row (a pair's two
    ports) could draw the same number, so every port handed out is remembered.
    """
    high = _ephemeral_low() - 1
    for _ in range(200):
        port = random.randint(high - 12000, high)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` holds the TCP socket listening on `port` (from /proc).

    A connection that succeeds proves only that *someone* listens there: a
    server that lost the race for its port exits, while another answers for it.
    """
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    return True
    return False
