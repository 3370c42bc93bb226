"""TLS and mutual TLS credentials from PEM files, for the server and for RegistryClient."""

from __future__ import annotations

from pathlib import Path

import grpc

from registry_service.config import Settings, described


def read_pem(path: str | Path, setting: str) -> bytes:
    """The PEM file at ``path``; a clear error names the setting when it cannot be used."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"{setting}: cannot read {path}: {error.strerror}") from None
    if b"-----BEGIN " not in data:
        raise ValueError(f"{setting}: {path} is not a PEM file")
    return data


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """The server's TLS credentials, requiring client certificates when a client CA is set;
    None when it serves plaintext (behind a mesh that does TLS for it)."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    chain = read_pem(settings.tls_cert, described("tls_cert"))
    key = read_pem(settings.tls_key, described("tls_key"))
    client_ca = (
        None
        if settings.tls_client_ca is None
        else read_pem(settings.tls_client_ca, described("tls_client_ca"))
    )
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def channel_credentials(
    ca: str | Path | None, cert: str | Path | None, key: str | Path | None
) -> grpc.ChannelCredentials:
    """A client's TLS credentials: ``ca`` verifies the server (None: the system's roots);
    ``cert`` and ``key`` are the client's own certificate, for servers that require one."""
    if (cert is None) != (key is None):
        raise ValueError("tls_cert and tls_key must be given together")
    return grpc.ssl_channel_credentials(
        root_certificates=None if ca is None else read_pem(ca, "tls_ca"),
        private_key=None if key is None else read_pem(key, "tls_key"),
        certificate_chain=None if cert is None else read_pem(cert, "tls_cert"),
    )
