"""RegistryClient: the MLflow registry workflow over the generated gRPC stub.

    client = RegistryClient("127.0.0.1:50051")
    mv = client.register_model("runs:/3f2a/model", "fraud-detector")
    client.transition_model_version_stage("fraud-detector", mv.version, "Production")

Methods return the protobuf messages (RegisteredModel, ModelVersion); failures raise the domain
errors of ``registry_service.errors`` (NotFound, AlreadyExists, InvalidArgument, …) carrying the
gRPC ``code`` and the ErrorInfo ``reason``.

Every write sends a ``request_id``, a fresh UUID unless the caller passes one: a retry of the same
request (by the channel, or by the caller with the same id) is then applied once. Writes to an
existing model or version take an ``etag`` (from a RegisteredModel or ModelVersion read earlier)
and then fail with Aborted if someone else changed the resource in between.

The channel balances calls round_robin over every address it is given, gives each call a
deadline, and retries calls that failed with UNAVAILABLE: reads always, writes because they
carry their request_id (see ``retry_policy``).

Longer than this package's ~600-line guide on purpose: one public class with one short method per
RPC of the service, which users read (and their editors complete) as one surface. What is not a
method per RPC lives elsewhere: retries in ``retry_policy``, TLS in ``tls``, errors in
``grpc_errors``.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

import grpc
from google.protobuf import field_mask_pb2
from modelregistry.v1 import (
    access_pb2,
    events_pb2,
    registry_service_pb2_grpc,
    requests_pb2,
    trash_pb2,
    webhooks_pb2,
)
from modelregistry.v1 import registry_service_pb2 as pb
from modelregistry.v1.events_pb2 import Event
from modelregistry.v1.model_version_pb2 import ModelVersion
from modelregistry.v1.registered_model_pb2 import RegisteredModel
from modelregistry.v1.requests_pb2 import TransitionRequest
from modelregistry.v1.webhooks_pb2 import Webhook, WebhookDelivery

from registry_service.client_cache import DEFAULT_MAX_STALENESS, ModelCache
from registry_service.errors import AlreadyExists, InvalidArgument
from registry_service.grpc_errors import from_rpc_error
from registry_service.retry_policy import invoke, service_config, static_target
from registry_service.tls import channel_credentials

DEFAULT_TARGET = "127.0.0.1:50051"
# Seconds a call may take unless the caller says otherwise.
DEFAULT_TIMEOUT = 30.0
# Seconds watch() waits before reconnecting, doubling per failed try up to the maximum.
WATCH_RETRY_INITIAL = 0.1
WATCH_RETRY_MAX = 5.0
# A watch stream that fails with these (the server or the connection went away) is reconnected;
# anything else is the caller's to handle.
# RESOURCE_EXHAUSTED: the stream fell a whole buffer behind, or the server serves its most
# streams; either way a later stream, after the last event received, carries on.
_RESUMABLE = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
)

Item = TypeVar("Item")


class RegistryClient:
    """A connection to a registry server. Use as a context manager, or call ``close()``.

    ``target`` is one gRPC target (``host:port``, ``dns:///name:port``, …) or a list of
    ``host:port`` addresses of replicas; calls are spread over them round_robin.
    ``timeout`` is each call's deadline in seconds (None: no deadline).
    TLS is used when ``tls`` is true or any ``tls_*`` file is given: ``tls_ca`` is the CA that
    signed the server's certificate (default: the system's roots); ``tls_cert`` and ``tls_key``
    are this client's certificate for servers that require one (mTLS).
    ``options`` are extra gRPC channel arguments. ``channel`` replaces all of the above with a
    channel of your own. ``token`` is sent as ``authorization: Bearer <token>`` with every call
    (servers run with ``--auth token``), on plaintext and TLS channels alike.
    """

    def __init__(
        self,
        target: str | Sequence[str] = DEFAULT_TARGET,
        *,
        channel: grpc.Channel | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        tls: bool = False,
        tls_ca: str | Path | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        options: Sequence[tuple[str, Any]] = (),
        token: str | None = None,
    ) -> None:
        self._own_channel = channel is None
        if channel is None:
            address = target if isinstance(target, str) else static_target(target)
            channel_options = [
                ("grpc.service_config", service_config()),
                ("grpc.enable_retries", 1),
                *options,
            ]
            if tls or tls_ca is not None or tls_cert is not None or tls_key is not None:
                credentials = channel_credentials(tls_ca, tls_cert, tls_key)
                channel = grpc.secure_channel(address, credentials, channel_options)
            else:
                channel = grpc.insecure_channel(address, channel_options)
        self._closing = channel
        if token:
            # Call credentials would need TLS; metadata added per call works on any channel.
            channel = grpc.intercept_channel(channel, _BearerToken(token))
        self._channel = channel
        self._stub = registry_service_pb2_grpc.ModelRegistryServiceStub(self._channel)
        self._timeout = timeout

    def close(self) -> None:
        if self._own_channel:
            self._closing.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def channel(self) -> grpc.Channel:
        """The channel calls go through (with the token, when one was given)."""
        return self._channel

    @contextlib.contextmanager
    def cache(
        self,
        names: Iterable[str],
        *,
        max_staleness: float = DEFAULT_MAX_STALENESS,
        strict: bool = False,
    ) -> Iterator[ModelCache]:
        """Models ``names`` kept in memory from the change feed, for reads by the thousand:
        ``with client.cache(names=["fraud"]) as cache: cache.get_model_version_by_alias(...)``.
        Reads fall back to calls (or, ``strict``, raise StaleCache) when the cache cannot prove
        it is at most ``max_staleness`` seconds behind. See registry_service.client_cache."""
        cache = ModelCache(self, names, max_staleness=max_staleness, strict=strict)
        cache.start()
        try:
            yield cache
        finally:
            cache.close()

    def _call(self, method: Callable[..., Any], request: Any) -> Any:
        # The default deadline is passed with every call (see retry_policy for why not in
        # the service config), so it holds on a caller's own channel too.
        try:
            return invoke(method, request, self._timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    # -- registered models -------------------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        *,
        request_id: str | None = None,
    ) -> RegisteredModel:
        request = pb.CreateRegisteredModelRequest(
            name=name,
            tags=tags or {},
            description=description or "",
            request_id=_request_id(request_id),
        )
        model: RegisteredModel = self._call(
            self._stub.CreateRegisteredModel, request
        ).registered_model
        return model

    def get_registered_model(self, name: str) -> RegisteredModel:
        request = pb.GetRegisteredModelRequest(name=name)
        model: RegisteredModel = self._call(self._stub.GetRegisteredModel, request).registered_model
        return model

    def rename_registered_model(
        self,
        name: str,
        new_name: str,
        *,
        etag: str | None = None,
        request_id: str | None = None,
    ) -> RegisteredModel:
        request = pb.RenameRegisteredModelRequest(
            name=name, new_name=new_name, etag=etag or "", request_id=_request_id(request_id)
        )
        model: RegisteredModel = self._call(
            self._stub.RenameRegisteredModel, request
        ).registered_model
        return model

    def update_registered_model(
        self,
        name: str,
        description: str | None = None,
        *,
        etag: str | None = None,
        request_id: str | None = None,
    ) -> RegisteredModel:
        request = pb.UpdateRegisteredModelRequest(
            name=name,
            description=description,
            etag=etag or "",
            request_id=_request_id(request_id),
        )
        model: RegisteredModel = self._call(
            self._stub.UpdateRegisteredModel, request
        ).registered_model
        return model

    def delete_registered_model(
        self, name: str, *, etag: str | None = None, request_id: str | None = None
    ) -> None:
        request = pb.DeleteRegisteredModelRequest(
            name=name, etag=etag or "", request_id=_request_id(request_id)
        )
        self._call(self._stub.DeleteRegisteredModel, request)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        order_by: Iterable[str] | None = None,
        max_results: int | None = None,
        page_size: int = 0,
    ) -> list[RegisteredModel]:
        """Every matching model (at most ``max_results``), fetched page by page."""

        def fetch(token: str) -> tuple[list[RegisteredModel], str]:
            return self.search_registered_models_page(filter_string, order_by, page_size, token)

        return _collect(fetch, max_results)

    def search_registered_models_page(
        self,
        filter_string: str | None = None,
        order_by: Iterable[str] | None = None,
        page_size: int = 0,
        page_token: str = "",
    ) -> tuple[list[RegisteredModel], str]:
        """One page of matching models and the token of the next page ("" after the last)."""
        response = self._call(
            self._stub.SearchRegisteredModels,
            pb.SearchRegisteredModelsRequest(
                filter=filter_string or "",
                order_by=list(order_by or ()),
                page_size=page_size,
                page_token=page_token,
            ),
        )
        return list(response.registered_models), response.next_page_token

    def get_latest_versions(
        self, name: str, stages: Iterable[str] | None = None, *, as_of: int | None = None
    ) -> list[ModelVersion]:
        """The highest version per stage; with ``as_of`` (epoch milliseconds), as it was then."""
        request = pb.GetLatestVersionsRequest(name=name, stages=list(stages or ()), as_of=as_of)
        return list(self._call(self._stub.GetLatestVersions, request).model_versions)

    # -- model versions ----------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        experiment_id: str | None = None,
        *,
        model_id: str | None = None,
        request_id: str | None = None,
    ) -> ModelVersion:
        """``model_id`` is the MLflow 3 logged model (``m-<id>``) a ``models:/m-<id>`` source
        names."""
        request = pb.CreateModelVersionRequest(
            name=name,
            source=source,
            run_id=run_id or "",
            tags=tags or {},
            run_link=run_link or "",
            description=description or "",
            experiment_id=experiment_id or "",
            model_id=model_id or "",
            request_id=_request_id(request_id),
        )
        version: ModelVersion = self._call(self._stub.CreateModelVersion, request).model_version
        return version

    def register_model(
        self,
        source: str,
        name: str,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        *,
        request_id: str | None = None,
    ) -> ModelVersion:
        """Create the next version of ``name`` from ``source``, creating the model first when it
        does not exist yet (like MLflow's ``register_model``). ``request_id`` identifies the
        version's creation; creating the model needs none, as an existing model is accepted."""
        with contextlib.suppress(AlreadyExists):
            self.create_registered_model(name)
        return self.create_model_version(
            name, source, run_id=run_id, tags=tags, description=description, request_id=request_id
        )

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        request = pb.GetModelVersionRequest(name=name, version=_version(version))
        result: ModelVersion = self._call(self._stub.GetModelVersion, request).model_version
        return result

    # The name the MLflow documentation uses for the same call.
    get_model_version_details = get_model_version

    def update_model_version(
        self,
        name: str,
        version: int | str,
        description: str | None = None,
        stage: str | None = None,
        *,
        etag: str | None = None,
        request_id: str | None = None,
    ) -> ModelVersion:
        """Change a version's description and/or stage (``stage`` as older MLflow docs show it).
        With both, the stage changes first and the description update is checked against the
        etag the transition returned (when ``etag`` was given), under an id derived from
        ``request_id`` so that retrying the whole call replays both halves."""
        number = _version(version)
        request_id = _request_id(request_id)
        result: ModelVersion | None = None
        if stage is not None:
            result = self.transition_model_version_stage(
                name, number, stage, etag=etag, request_id=request_id
            )
            etag = result.etag if etag else None
            request_id = str(uuid.uuid5(uuid.UUID(request_id), "description"))
        if description is not None or result is None:
            request = pb.UpdateModelVersionRequest(
                name=name,
                version=number,
                description=description,
                etag=etag or "",
                request_id=request_id,
            )
            result = self._call(self._stub.UpdateModelVersion, request).model_version
        return result

    def transition_model_version_stage(
        self,
        name: str,
        version: int | str,
        stage: str,
        archive_existing_versions: bool = False,
        *,
        etag: str | None = None,
        request_id: str | None = None,
    ) -> ModelVersion:
        request = pb.TransitionModelVersionStageRequest(
            name=name,
            version=_version(version),
            stage=stage,
            archive_existing_versions=archive_existing_versions,
            etag=etag or "",
            request_id=_request_id(request_id),
        )
        result: ModelVersion = self._call(
            self._stub.TransitionModelVersionStage, request
        ).model_version
        return result

    def delete_model_version(
        self,
        name: str,
        version: int | str,
        *,
        etag: str | None = None,
        request_id: str | None = None,
    ) -> None:
        request = pb.DeleteModelVersionRequest(
            name=name,
            version=_version(version),
            etag=etag or "",
            request_id=_request_id(request_id),
        )
        self._call(self._stub.DeleteModelVersion, request)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        order_by: Iterable[str] | None = None,
        max_results: int | None = None,
        page_size: int = 0,
    ) -> list[ModelVersion]:
        """Every matching version (at most ``max_results``), fetched page by page."""

        def fetch(token: str) -> tuple[list[ModelVersion], str]:
            return self.search_model_versions_page(filter_string, order_by, page_size, token)

        return _collect(fetch, max_results)

    def search_model_versions_page(
        self,
        filter_string: str | None = None,
        order_by: Iterable[str] | None = None,
        page_size: int = 0,
        page_token: str = "",
    ) -> tuple[list[ModelVersion], str]:
        """One page of matching versions and the token of the next page ("" after the last)."""
        response = self._call(
            self._stub.SearchModelVersions,
            pb.SearchModelVersionsRequest(
                filter=filter_string or "",
                order_by=list(order_by or ()),
                page_size=page_size,
                page_token=page_token,
            ),
        )
        return list(response.model_versions), response.next_page_token

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        request = pb.GetModelVersionDownloadUriRequest(name=name, version=_version(version))
        uri: str = self._call(self._stub.GetModelVersionDownloadUri, request).artifact_uri
        return uri

    # -- tags --------------------------------------------------------------------------------

    def set_registered_model_tag(
        self,
        name: str,
        key: str,
        value: str,
        *,
        etag: str | None = None,
        request_id: str | None = None,
    ) -> None:
        request = pb.SetRegisteredModelTagRequest(
            name=name, key=key, value=value, etag=etag or "", request_id=_request_id(request_id)
        )
        self._call(self._stub.SetRegisteredModelTag, request)

    def delete_registered_model_tag(
        self, name: str, key: str, *, etag: str | None = None, request_id: str | None = None
    ) -> None:
        request = pb.DeleteRegisteredModelTagRequest(
            name=name, key=key, etag=etag or "", request_id=_request_id(request_id)
        )
        self._call(self._stub.DeleteRegisteredModelTag, request)

    def set_model_version_tag(
        self,
        name: str,
        version: int | str,
        key: str,
        value: str,
        *,
        etag: str | None = None,
        request_id: str | None = None,
    ) -> None:
        request = pb.SetModelVersionTagRequest(
            name=name,
            version=_version(version),
            key=key,
            value=value,
            etag=etag or "",
            request_id=_request_id(request_id),
        )
        self._call(self._stub.SetModelVersionTag, request)

    def delete_model_version_tag(
        self,
        name: str,
        version: int | str,
        key: str,
        *,
        etag: str | None = None,
        request_id: str | None = None,
    ) -> None:
        request = pb.DeleteModelVersionTagRequest(
            name=name,
            version=_version(version),
            key=key,
            etag=etag or "",
            request_id=_request_id(request_id),
        )
        self._call(self._stub.DeleteModelVersionTag, request)

    # -- aliases -----------------------------------------------------------------------------

    def set_registered_model_alias(
        self,
        name: str,
        alias: str,
        version: int | str,
        *,
        etag: str | None = None,
        request_id: str | None = None,
    ) -> None:
        request = pb.SetRegisteredModelAliasRequest(
            name=name,
            alias=alias,
            version=_version(version),
            etag=etag or "",
            request_id=_request_id(request_id),
        )
        self._call(self._stub.SetRegisteredModelAlias, request)

    def delete_registered_model_alias(
        self, name: str, alias: str, *, etag: str | None = None, request_id: str | None = None
    ) -> None:
        request = pb.DeleteRegisteredModelAliasRequest(
            name=name, alias=alias, etag=etag or "", request_id=_request_id(request_id)
        )
        self._call(self._stub.DeleteRegisteredModelAlias, request)

    def get_model_version_by_alias(
        self, name: str, alias: str, *, as_of: int | None = None
    ) -> ModelVersion:
        """The version ``alias`` points at; with ``as_of`` (epoch milliseconds), pointed at then."""
        request = pb.GetModelVersionByAliasRequest(name=name, alias=alias, as_of=as_of)
        result: ModelVersion = self._call(self._stub.GetModelVersionByAlias, request).model_version
        return result

    # -- restore after delete ----------------------------------------------------------------

    def restore_registered_model(
        self, name: str, new_name: str = "", *, request_id: str | None = None
    ) -> RegisteredModel:
        """The deleted model ``name`` back (under ``new_name`` when given)."""
        request = trash_pb2.RestoreRegisteredModelRequest(
            name=name, new_name=new_name, request_id=_request_id(request_id)
        )
        model: RegisteredModel = self._call(
            self._stub.RestoreRegisteredModel, request
        ).registered_model
        return model

    def restore_model_version(
        self, name: str, version: int, *, request_id: str | None = None
    ) -> ModelVersion:
        """The deleted version back, under its old number."""
        request = trash_pb2.RestoreModelVersionRequest(
            name=name, version=version, request_id=_request_id(request_id)
        )
        restored: ModelVersion = self._call(self._stub.RestoreModelVersion, request).model_version
        return restored

    def list_deleted_registered_models(
        self, page_size: int = 0
    ) -> list[trash_pb2.DeletedRegisteredModel]:
        """Every deleted model still restorable that the caller may see, fetched page by page."""
        found: list[trash_pb2.DeletedRegisteredModel] = []
        token = ""
        while True:
            request = trash_pb2.ListDeletedRegisteredModelsRequest(
                page_size=page_size, page_token=token
            )
            response = self._call(self._stub.ListDeletedRegisteredModels, request)
            found.extend(response.deleted_registered_models)
            token = response.next_page_token
            if not token:
                return found

    def list_deleted_model_versions(self, name: str) -> list[trash_pb2.DeletedModelVersion]:
        """The deleted versions of the model ``name`` still restorable."""
        request = trash_pb2.ListDeletedModelVersionsRequest(name=name)
        return list(self._call(self._stub.ListDeletedModelVersions, request).deleted_model_versions)

    # -- import ------------------------------------------------------------------------------

    def import_registered_model(
        self,
        registered_model: RegisteredModel,
        model_versions: Iterable[ModelVersion] = (),
        on_conflict: str = "fail",
        last_version: int = 0,
        *,
        request_id: str | None = None,
    ) -> pb.ImportRegisteredModelResponse:
        """Recreate a whole model copied from another registry, with its versions' numbers,
        stages, timestamps and users; ``on_conflict`` is "fail", "skip" or "rename". The response
        holds the model under its final name and the outcome (created, skipped or renamed)."""
        policy = _CONFLICT_POLICIES.get(on_conflict.lower())
        if policy is None:
            raise InvalidArgument(
                f"on_conflict must be one of {', '.join(_CONFLICT_POLICIES)}, got {on_conflict!r}",
                field="on_conflict",
                code=grpc.StatusCode.INVALID_ARGUMENT,
            )
        request = pb.ImportRegisteredModelRequest(
            registered_model=registered_model,
            model_versions=list(model_versions),
            last_version=last_version,
            on_conflict=policy,
            request_id=_request_id(request_id),
        )
        response: pb.ImportRegisteredModelResponse = self._call(
            self._stub.ImportRegisteredModel, request
        )
        return response

    # -- events ------------------------------------------------------------------------------

    def watch(
        self,
        start_after: int = 0,
        model_names: Iterable[str] = (),
        event_types: Iterable[int] = (),
    ) -> Iterator[Event]:
        """Every event after ``start_after`` in sequence order, then new ones as they commit,
        forever. When the stream breaks (a server restarts, a connection ages out) it is opened
        again after the last event yielded, so nothing is missed or repeated. ``event_types``
        are ``events_pb2.EVENT_TYPE_*`` values. Stop by closing the generator (``break``)."""
        names, types = list(model_names), list(event_types)
        position = start_after
        wait = WATCH_RETRY_INITIAL
        while True:
            request = events_pb2.WatchEventsRequest(
                start_after=position, model_names=names, event_types=cast(Any, types)
            )
            stream = self._stub.WatchEvents(request)
            try:
                for response in stream:
                    wait = WATCH_RETRY_INITIAL
                    position = max(position, response.high_water_sequence)
                    if response.HasField("event"):
                        yield response.event
            except grpc.RpcError as error:
                if error.code() not in _RESUMABLE:
                    raise from_rpc_error(error) from None
            finally:
                stream.cancel()
            time.sleep(wait)
            wait = min(wait * 2, WATCH_RETRY_MAX)

    def list_events(
        self,
        start_after: int = 0,
        model_names: Iterable[str] = (),
        event_types: Iterable[int] = (),
        max_results: int | None = None,
        page_size: int = 0,
    ) -> list[Event]:
        """Committed events in sequence order (at most ``max_results``), page by page."""

        def fetch(token: str) -> tuple[list[Event], str]:
            response = self._call(
                self._stub.ListEvents,
                events_pb2.ListEventsRequest(
                    start_after=start_after,
                    model_names=list(model_names),
                    event_types=cast(Any, list(event_types)),
                    page_size=page_size,
                    page_token=token,
                ),
            )
            return list(response.events), response.next_page_token

        return _collect(fetch, max_results)

    # -- webhooks ----------------------------------------------------------------------------

    def create_webhook(
        self,
        url: str,
        event_types: Iterable[int],
        secret: str = "",
        *,
        enabled: bool = True,
        description: str = "",
        name: str = "",
        request_id: str | None = None,
    ) -> Webhook:
        request = webhooks_pb2.CreateWebhookRequest(
            url=url,
            event_types=cast(Any, list(event_types)),
            secret=secret,
            enabled=enabled,
            description=description,
            name=name,
            request_id=_request_id(request_id),
        )
        webhook: Webhook = self._call(self._stub.CreateWebhook, request).webhook
        return webhook

    def list_webhooks(self) -> list[Webhook]:
        response = self._call(self._stub.ListWebhooks, webhooks_pb2.ListWebhooksRequest())
        return list(response.webhooks)

    def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        event_types: Iterable[int] | None = None,
        secret: str | None = None,
        enabled: bool | None = None,
        description: str | None = None,
        name: str | None = None,
        request_id: str | None = None,
    ) -> Webhook:
        """Change the fields given; the others keep their values."""
        given: dict[str, Any] = {
            "url": url,
            "event_types": None if event_types is None else list(event_types),
            "secret": secret,
            "enabled": enabled,
            "description": description,
            "name": name,
        }
        changed = {name: value for name, value in given.items() if value is not None}
        request = webhooks_pb2.UpdateWebhookRequest(
            id=webhook_id,
            update_mask=field_mask_pb2.FieldMask(paths=sorted(changed)),
            request_id=_request_id(request_id),
            **changed,
        )
        webhook: Webhook = self._call(self._stub.UpdateWebhook, request).webhook
        return webhook

    def delete_webhook(self, webhook_id: str, *, request_id: str | None = None) -> None:
        request = webhooks_pb2.DeleteWebhookRequest(
            id=webhook_id, request_id=_request_id(request_id)
        )
        self._call(self._stub.DeleteWebhook, request)

    def test_webhook(
        self, webhook_id: str, event_type: int = 0
    ) -> webhooks_pb2.TestWebhookResponse:
        """One test POST now: a delivery of ``event_type`` (an ``events_pb2.EVENT_TYPE_*``) with
        example data, or the registry's own test body without one."""
        request = webhooks_pb2.TestWebhookRequest(id=webhook_id, event_type=cast(Any, event_type))
        response: webhooks_pb2.TestWebhookResponse = self._call(self._stub.TestWebhook, request)
        return response

    def list_webhook_deliveries(
        self,
        webhook_id: str = "",
        status: int = 0,
        max_results: int | None = None,
        page_size: int = 0,
    ) -> list[WebhookDelivery]:
        """The delivery log, newest first; ``status`` is a ``webhooks_pb2.DELIVERY_STATUS_*``."""

        def fetch(token: str) -> tuple[list[WebhookDelivery], str]:
            response = self._call(
                self._stub.ListWebhookDeliveries,
                webhooks_pb2.ListWebhookDeliveriesRequest(
                    webhook_id=webhook_id,
                    status=cast(Any, status),
                    page_size=page_size,
                    page_token=token,
                ),
            )
            return list(response.deliveries), response.next_page_token

        return _collect(fetch, max_results)

    # -- transition requests -----------------------------------------------------------------

    def create_transition_request(
        self,
        name: str,
        version: int | str,
        stage: str = "",
        alias: str = "",
        *,
        delete_alias: bool = False,
        archive_existing_versions: bool = False,
        comment: str = "",
        request_id: str | None = None,
    ) -> TransitionRequest:
        """Ask for a stage change or an alias set (or, with ``delete_alias``, deleted) that
        someone with MANAGE on the model approves."""
        request = requests_pb2.CreateTransitionRequestRequest(
            name=name,
            version=_version(version),
            stage=stage,
            alias=alias,
            delete_alias=delete_alias,
            archive_existing_versions=archive_existing_versions,
            comment=comment,
            request_id=_request_id(request_id),
        )
        created: TransitionRequest = self._call(
            self._stub.CreateTransitionRequest, request
        ).transition_request
        return created

    def list_transition_requests(
        self,
        name: str = "",
        version: int | str = 0,
        state: int = 0,
        max_results: int | None = None,
        page_size: int = 0,
    ) -> list[TransitionRequest]:
        """Requests, newest first; ``state`` is a ``requests_pb2.TRANSITION_REQUEST_STATE_*``."""

        def fetch(token: str) -> tuple[list[TransitionRequest], str]:
            response = self._call(
                self._stub.ListTransitionRequests,
                requests_pb2.ListTransitionRequestsRequest(
                    name=name,
                    version=_version(version),
                    state=cast(Any, state),
                    page_size=page_size,
                    page_token=token,
                ),
            )
            return list(response.transition_requests), response.next_page_token

        return _collect(fetch, max_results)

    def approve_transition_request(
        self, request_id: int, etag: str = "", comment: str = ""
    ) -> requests_pb2.ApproveTransitionRequestResponse:
        """Approve a pending request: its change is made; the response holds the request and
        the version after the change."""
        request = requests_pb2.ApproveTransitionRequestRequest(
            id=request_id, etag=etag, comment=comment
        )
        response: requests_pb2.ApproveTransitionRequestResponse = self._call(
            self._stub.ApproveTransitionRequest, request
        )
        return response

    def reject_transition_request(
        self, request_id: int, etag: str = "", comment: str = ""
    ) -> TransitionRequest:
        request = requests_pb2.RejectTransitionRequestRequest(
            id=request_id, etag=etag, comment=comment
        )
        rejected: TransitionRequest = self._call(
            self._stub.RejectTransitionRequest, request
        ).transition_request
        return rejected

    def cancel_transition_request(
        self, request_id: int, etag: str = "", comment: str = ""
    ) -> TransitionRequest:
        request = requests_pb2.CancelTransitionRequestRequest(
            id=request_id, etag=etag, comment=comment
        )
        cancelled: TransitionRequest = self._call(
            self._stub.CancelTransitionRequest, request
        ).transition_request
        return cancelled

    # -- access ------------------------------------------------------------------------------

    def create_access_token(
        self, user_id: str, *, admin: bool = False, description: str = "", expires_in: int = 0
    ) -> access_pb2.CreateAccessTokenResponse:
        """A new token for ``user_id``; the response's ``token`` is its secret, shown only now.
        It expires ``expires_in`` seconds from now (0: the server's --token-max-ttl, or never)."""
        request = access_pb2.CreateAccessTokenRequest(
            user_id=user_id, admin=admin, description=description, expires_in=expires_in
        )
        response: access_pb2.CreateAccessTokenResponse = self._call(
            self._stub.CreateAccessToken, request
        )
        return response

    def list_access_tokens(self, user_id: str = "") -> list[access_pb2.AccessToken]:
        request = access_pb2.ListAccessTokensRequest(user_id=user_id)
        return list(self._call(self._stub.ListAccessTokens, request).access_tokens)

    def revoke_access_token(self, token_id: int) -> None:
        self._call(self._stub.RevokeAccessToken, access_pb2.RevokeAccessTokenRequest(id=token_id))

    def set_registered_model_permission(
        self, name: str, user_id: str, permission: str
    ) -> access_pb2.RegisteredModelPermission:
        """Grant ``user_id`` ``permission`` ("READ", "EDIT" or "MANAGE") on model ``name``."""
        request = access_pb2.SetRegisteredModelPermissionRequest(
            name=name, user_id=user_id, permission=_permission(permission)
        )
        response = self._call(self._stub.SetRegisteredModelPermission, request)
        permission_message: access_pb2.RegisteredModelPermission = (
            response.registered_model_permission
        )
        return permission_message

    def get_registered_model_permissions(
        self, name: str
    ) -> list[access_pb2.RegisteredModelPermission]:
        request = access_pb2.GetRegisteredModelPermissionsRequest(name=name)
        response = self._call(self._stub.GetRegisteredModelPermissions, request)
        return list(response.registered_model_permissions)

    def delete_registered_model_permission(self, name: str, user_id: str) -> None:
        request = access_pb2.DeleteRegisteredModelPermissionRequest(name=name, user_id=user_id)
        self._call(self._stub.DeleteRegisteredModelPermission, request)

    def get_current_identity(self) -> access_pb2.GetCurrentIdentityResponse:
        """Who the server takes this client to be, and whether that is an admin."""
        response: access_pb2.GetCurrentIdentityResponse = self._call(
            self._stub.GetCurrentIdentity, access_pb2.GetCurrentIdentityRequest()
        )
        return response


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds the token to every call, the WatchEvents stream included."""

    def __init__(self, token: str) -> None:
        self._metadata = ("authorization", f"Bearer {token}")

    def _with_token(self, details: Any) -> Any:
        return details._replace(metadata=(*(details.metadata or ()), self._metadata))

    def intercept_unary_unary(
        self, continuation: Callable[[Any, Any], Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(
        self, continuation: Callable[[Any, Any], Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._with_token(details), request)


def _permission(permission: str) -> str:
    """The enum value name of READ, EDIT or MANAGE."""
    if permission.upper() not in ("READ", "EDIT", "MANAGE"):
        raise InvalidArgument(
            f"permission must be READ, EDIT or MANAGE, got {permission!r}",
            field="permission",
            code=grpc.StatusCode.INVALID_ARGUMENT,
        )
    return f"PERMISSION_{permission.upper()}"


_CONFLICT_POLICIES = {
    "fail": pb.IMPORT_CONFLICT_POLICY_FAIL,
    "skip": pb.IMPORT_CONFLICT_POLICY_SKIP,
    "rename": pb.IMPORT_CONFLICT_POLICY_RENAME,
}


def _request_id(request_id: str | None) -> str:
    """The caller's request_id, or a fresh one: made once per method call, so that every retry
    of that call carries the same id and the server applies the write once."""
    return request_id or str(uuid.uuid4())


def _version(version: int | str) -> int:
    """MLflow code passes versions as strings ("3"); the contract carries integers."""
    try:
        return int(version)
    except (TypeError, ValueError):
        raise InvalidArgument(
            f"version must be a whole number, got {version!r}",
            field="version",
            code=grpc.StatusCode.INVALID_ARGUMENT,
        ) from None


def _collect(fetch: Callable[[str], tuple[list[Item], str]], max_results: int | None) -> list[Item]:
    collected: list[Item] = []
    token = ""
    while max_results is None or len(collected) < max_results:
        items, token = fetch(token)
        collected.extend(items)
        if not token:
            break
    return collected if max_results is None else collected[:max_results]
