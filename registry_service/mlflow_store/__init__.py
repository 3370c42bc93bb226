"""An MLflow registry-store plugin: ``mlflow server --registry-store-uri modelregistry://host:port``
keeps every registered model, version, alias, tag and prompt in this service, reached over gRPC.

MLflow picks a registry store by the URI's scheme from the entry point group
``mlflow.model_registry_store``; this package registers ``modelregistry`` (plaintext) and
``modelregistry+tls`` (TLS) there, both built by ``RegistryServiceStore``. See docs/mlflow.md.
"""

from registry_service.mlflow_store.store import RegistryServiceStore

__all__ = ["RegistryServiceStore"]
