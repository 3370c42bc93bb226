"""Network addresses as gRPC and log lines spell them."""

from __future__ import annotations


def format_address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
