"""What every `registry` command module shares: the global options, the client they make, and
printing a result as JSON (``--json``) or as text for people."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import click

from registry_service.client import RegistryClient


@dataclass(frozen=True)
class Options:
    """The options every command shares."""

    target: str
    as_json: bool
    quiet: bool
    token: str | None = None
    tls_ca: str | None = None

    def client(self) -> RegistryClient:
        return RegistryClient(
            self.target, token=self.token, tls=self.tls_ca is not None, tls_ca=self.tls_ca or None
        )


pass_options = click.make_pass_decorator(Options)


def show(options: Options, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False) if options.as_json else text)
