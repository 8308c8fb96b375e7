"""Helpers shared by the benchmark scripts in this directory."""

import socket


def free_ports(n):
    """`n` TCP ports free on 127.0.0.1 right now (bound to port 0, then released)."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports
