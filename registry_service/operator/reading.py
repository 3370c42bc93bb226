"""Reading models and all their versions out of a registry through RegistryClient."""

from __future__ import annotations

from collections.abc import Sequence

from modelregistry.v1.model_version_pb2 import ModelVersion
from modelregistry.v1.registered_model_pb2 import RegisteredModel

from registry_service.client import RegistryClient
from registry_service.errors import InvalidArgument, NotFound
from registry_service.operator.transfer import ModelCopy


def filter_literal(value: str) -> str:
    """``value`` as a string literal of the registry's filter syntax, matched exactly by "="."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def versions_of(client: RegistryClient, name: str) -> list[ModelVersion]:
    """Every version of one model, lowest number first."""
    return client.search_model_versions(
        f"name = {filter_literal(name)}", order_by=["version_number ASC"], page_size=1000
    )


def models_to_export(client: RegistryClient, names: Sequence[str]) -> list[RegisteredModel]:
    """The named models (a missing one is an error before anything is written), or every model
    when no name is given."""
    if names:
        return [client.get_registered_model(name) for name in dict.fromkeys(names)]
    return client.search_registered_models(page_size=1000)


def copy_of(client: RegistryClient, model: RegisteredModel) -> ModelCopy:
    return ModelCopy(model=model, versions=versions_of(client, model.name))


def model_exists(client: RegistryClient, name: str) -> bool:
    """Whether a model of this name is here; a name the registry refuses names no model."""
    try:
        client.get_registered_model(name)
    except (NotFound, InvalidArgument):
        return False
    return True
