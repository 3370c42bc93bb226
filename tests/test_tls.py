"""TLS and mutual TLS between RegistryClient and a real server process, with certificates the
tests make."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import pytest

from registry_service.client import RegistryClient
from registry_service.errors import RegistryError

from .certificates import Authority, Pair
from .processes import CLI, serving


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(tmp_path_factory.mktemp("pki"), "registry-test-ca")


@pytest.fixture(scope="module")
def server_pair(authority: Authority) -> Pair:
    return authority.issue("registry-server", server=True)


def tls_flags(pair: Pair) -> tuple[str, ...]:
    return ("--tls-cert", str(pair.cert), "--tls-key", str(pair.key))


def test_tls_server_answers_clients_that_trust_its_ca_and_refuses_plaintext(
    tmp_path: Path, authority: Authority, server_pair: Pair
) -> None:
    database = f"sqlite:///{tmp_path}/r.db"
    with serving("--port", "0", "--database-url", database, *tls_flags(server_pair)) as served:
        with RegistryClient(served.address, tls_ca=authority.cert) as client:
            assert client.create_registered_model("over-tls").name == "over-tls"
        with RegistryClient(f"localhost:{served.port}", tls_ca=authority.cert) as client:
            assert client.get_registered_model("over-tls").name == "over-tls"

        with (
            RegistryClient(served.address, timeout=5) as plaintext,
            pytest.raises(RegistryError) as refused,
        ):
            plaintext.get_registered_model("over-tls")
        assert refused.value.code == grpc.StatusCode.UNAVAILABLE

        stranger = Authority(tmp_path, "some-other-ca")
        with (
            RegistryClient(served.address, tls_ca=stranger.cert, timeout=5) as untrusting,
            pytest.raises(RegistryError) as refused,
        ):
            untrusting.get_registered_model("over-tls")
        assert refused.value.code == grpc.StatusCode.UNAVAILABLE


def test_mtls_server_requires_a_client_certificate_from_its_client_ca(
    tmp_path: Path, authority: Authority, server_pair: Pair
) -> None:
    client_pair = authority.issue("trainer-job", server=False)
    outsider = Authority(tmp_path, "outsider-ca").issue("intruder", server=False)
    database = f"sqlite:///{tmp_path}/r.db"
    with serving(
        "--port",
        "0",
        "--database-url",
        database,
        *tls_flags(server_pair),
        "--tls-client-ca",
        str(authority.cert),
    ) as served:
        with RegistryClient(
            served.address,
            tls_ca=authority.cert,
            tls_cert=client_pair.cert,
            tls_key=client_pair.key,
        ) as client:
            assert client.create_registered_model("mutual").name == "mutual"
        line = served.wait_for_log(
            lambda line: line["message"].endswith("CreateRegisteredModel OK")
        )
        assert line["identity"] == "trainer-job"

        for unknown in (
            {},
            {"tls_cert": outsider.cert, "tls_key": outsider.key},
        ):
            with (
                RegistryClient(
                    served.address, tls_ca=authority.cert, timeout=5, **unknown
                ) as client,
                pytest.raises(RegistryError) as refused,
            ):
                client.get_registered_model("mutual")
            assert refused.value.code == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--tls-cert", "/nonexistent/server.crt"), "--tls-key (REGISTRY_TLS_KEY) must be given"),
        (
            ("--tls-cert", "/nonexistent/server.crt", "--tls-key", "/nonexistent/server.key"),
            "cannot read /nonexistent/server.crt",
        ),
        (("--tls-client-ca", "/nonexistent/ca.pem"), "mTLS is TLS first"),
    ],
)
def test_unusable_tls_settings_are_refused_with_a_message(
    tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    result = subprocess.run(
        [*CLI, "serve", "--port", "0", "--database-url", f"sqlite:///{tmp_path}/r.db", *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr
