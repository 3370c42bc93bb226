"""ModelRegistryService's methods, free of any transport: one method per RPC, proto request in,
proto response out, domain errors (``errors``) raised. Validation and semantics live in the store.

Both transports call these through the one call pipeline (``calls``): gRPC through the adapter in
``grpc_errors``, which maps the errors to statuses, and the HTTP gateway directly."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Generator, Hashable
from contextlib import aclosing

from google.protobuf.message import Message
from modelregistry.v1 import access_pb2, events_pb2, requests_pb2, trash_pb2, webhooks_pb2
from modelregistry.v1 import registry_service_pb2 as pb

from registry_service import identity, validation
from registry_service.access_mapping import (
    access_token_message,
    permission_message,
    permission_of,
)
from registry_service.config import Settings
from registry_service.domain import Event, ModelVersion, RegisteredModel
from registry_service.errors import InvalidArgument
from registry_service.lineage import LineageResolver, Origin
from registry_service.proto_mapping import (
    Responses,
    conflict_policy_of,
    delivery_message,
    delivery_status_of,
    event_message,
    event_types_of,
    import_outcome_message,
    imported_model_record,
    imported_version_record,
    model_version_message,
    registered_model_message,
    webhook_fields_of,
    webhook_message,
)
from registry_service.request_mapping import state_of, transition_request_message
from registry_service.store.access_store import AccessStore
from registry_service.store.history import check_event_filters
from registry_service.store.read_cache import ANY_TOKEN
from registry_service.store.registry_store import RegistryStore
from registry_service.store.webhook_rows import WebhookFields
from registry_service.trash_mapping import deleted_model_message, deleted_version_message
from registry_service.watch_feed import EventFeed
from registry_service.webhooks import UrlPolicy, WebhookSender

# WatchEvents responses kept for the streams still to send them: the latest this many events.
STREAMED_KEPT = 4096

# The fields of a webhook that UpdateWebhook's update_mask may name.
WEBHOOK_FIELDS = ("url", "event_types", "secret", "enabled", "description", "name")


class RegistryService:
    def __init__(
        self,
        store: RegistryStore,
        feed: EventFeed | None = None,
        sender: WebhookSender | None = None,
        lineage: LineageResolver | None = None,
        access: AccessStore | None = None,
    ) -> None:
        defaults = Settings()
        self._store = store
        self._lineage = lineage or LineageResolver()
        self._feed = feed or EventFeed(
            store,
            defaults.event_poll_interval,
            defaults.event_heartbeat_interval,
            defaults.max_watch_streams,
            defaults.watch_buffer,
        )
        self._sender = sender or WebhookSender(
            UrlPolicy(frozenset(defaults.webhook_scheme_list), defaults.webhook_allow_private),
            defaults.webhook_timeout,
        )
        self._access = access or AccessStore(store)
        self._webhooks = store.webhooks
        self._requests = store.transition_requests
        # The point reads' responses, made once per record the store's read cache hands out.
        self._responses = Responses()
        # The point reads memory may answer (``answer_from_memory``), by RPC.
        self._from_memory: dict[str, Callable[[Message, Hashable | None], Message | None]] = {
            "GetModelVersionByAlias": self._aliased_from_memory,
            "GetLatestVersions": self._latest_from_memory,
            "GetModelVersion": self._version_from_memory,
            "GetRegisteredModel": self._model_from_memory,
        }
        self._streamed: OrderedDict[int, tuple[Event, events_pb2.WatchEventsResponse]] = (
            OrderedDict()
        )

    # -- answers from memory ------------------------------------------------------------------

    def answers_from_memory(self, rpc: str) -> bool:
        """Whether ``answer_from_memory`` may answer calls of ``rpc``."""
        return rpc in self._from_memory

    @property
    def change_token_is_a_query(self) -> bool:
        """Whether ``answer_from_memory`` needs a token from ``observe_change_token`` (on
        PostgreSQL; SQLite's is read from memory)."""
        return self._store.change_token_is_a_query

    def observe_change_token(self) -> Hashable:
        """The database's change token as of now: a round trip, for ``answer_from_memory``."""
        return self._store.observe_change_token()

    def remembers(self, rpc: str, request: Message) -> bool:
        """Whether memory holds an answer to ``request`` of ``rpc`` under any change token:
        where the token is a query, whether observing one for it is worth a round trip."""
        return self.answer_from_memory(rpc, request, ANY_TOKEN) is not None

    def answer_from_memory(
        self, rpc: str, request: Message, token: Hashable | None = None
    ) -> Message | None:
        """The response to ``request`` of the point read ``rpc`` when the store's memory alone
        answers it, found without waiting for anything (the asyncio server answers such a call
        on its event loop, see aio_calls); None when the call must be served as usual, by its
        method. ``token``: where ``change_token_is_a_query``, one ``observe_change_token``
        returned after the call arrived. Nothing is validated, logged or changed: a request
        memory does not answer, a bad one included (bytes that did not parse arrive as an
        InvalidArgument, see ``grpc_errors.tolerant_parser``), gets None. Only for callers
        whose access needs no per-model decision (``model_access.checks_caller()`` false)."""
        answer = self._from_memory.get(rpc)
        return None if answer is None else answer(request, token)

    def _aliased_from_memory(self, request: Message, token: Hashable | None) -> Message | None:
        # A past state (as_of) is read from the event history, never from memory.
        if not isinstance(request, pb.GetModelVersionByAliasRequest) or request.HasField("as_of"):
            return None
        found = self._store.model_version_by_alias_in_memory(request.name, request.alias, token)
        return None if found is None else self._aliased_response(found)

    def _latest_from_memory(self, request: Message, token: Hashable | None) -> Message | None:
        # A past state (as_of) is read from the event history, never from memory.
        if not isinstance(request, pb.GetLatestVersionsRequest) or request.HasField("as_of"):
            return None
        found = self._store.latest_versions_in_memory(request.name, list(request.stages), token)
        return None if found is None else self._latest_response(found)

    def _version_from_memory(self, request: Message, token: Hashable | None) -> Message | None:
        if not isinstance(request, pb.GetModelVersionRequest):
            return None
        found = self._store.model_version_in_memory(request.name, request.version, token)
        return None if found is None else self._version_response(found)

    def _model_from_memory(self, request: Message, token: Hashable | None) -> Message | None:
        if not isinstance(request, pb.GetRegisteredModelRequest):
            return None
        found = self._store.registered_model_in_memory(request.name, token)
        return None if found is None else self._model_response(found)

    # -- registered models -------------------------------------------------------------------

    def CreateRegisteredModel(
        self, request: pb.CreateRegisteredModelRequest
    ) -> pb.CreateRegisteredModelResponse:
        model = self._store.create_registered_model(
            request.name, dict(request.tags), request.description, request_id=request.request_id
        )
        return pb.CreateRegisteredModelResponse(registered_model=registered_model_message(model))

    def GetRegisteredModel(
        self, request: pb.GetRegisteredModelRequest
    ) -> pb.GetRegisteredModelResponse:
        return self._model_response(self._store.get_registered_model(request.name))

    def _model_response(self, model: RegisteredModel) -> pb.GetRegisteredModelResponse:
        return self._responses.of(
            (model,),
            lambda: pb.GetRegisteredModelResponse(registered_model=registered_model_message(model)),
        )

    def RenameRegisteredModel(
        self, request: pb.RenameRegisteredModelRequest
    ) -> pb.RenameRegisteredModelResponse:
        model = self._store.rename_registered_model(
            request.name, request.new_name, etag=request.etag, request_id=request.request_id
        )
        return pb.RenameRegisteredModelResponse(registered_model=registered_model_message(model))

    def UpdateRegisteredModel(
        self, request: pb.UpdateRegisteredModelRequest
    ) -> pb.UpdateRegisteredModelResponse:
        description = request.description if request.HasField("description") else None
        model = self._store.update_registered_model(
            request.name, description, etag=request.etag, request_id=request.request_id
        )
        return pb.UpdateRegisteredModelResponse(registered_model=registered_model_message(model))

    def DeleteRegisteredModel(
        self, request: pb.DeleteRegisteredModelRequest
    ) -> pb.DeleteRegisteredModelResponse:
        self._store.delete_registered_model(
            request.name, etag=request.etag, request_id=request.request_id
        )
        return pb.DeleteRegisteredModelResponse()

    def SearchRegisteredModels(
        self, request: pb.SearchRegisteredModelsRequest
    ) -> pb.SearchRegisteredModelsResponse:
        page = self._store.search_registered_models(
            request.filter, list(request.order_by), request.page_size, request.page_token
        )
        return pb.SearchRegisteredModelsResponse(
            registered_models=[registered_model_message(m) for m in page.items],
            next_page_token=page.next_page_token,
        )

    def GetLatestVersions(
        self, request: pb.GetLatestVersionsRequest
    ) -> pb.GetLatestVersionsResponse:
        return self._latest_response(
            self._store.get_latest_versions(request.name, list(request.stages), _as_of(request))
        )

    def _latest_response(self, versions: list[ModelVersion]) -> pb.GetLatestVersionsResponse:
        return self._responses.of(
            versions,
            lambda: pb.GetLatestVersionsResponse(
                model_versions=[model_version_message(v) for v in versions]
            ),
        )

    # -- model versions ----------------------------------------------------------------------

    def CreateModelVersion(
        self, request: pb.CreateModelVersionRequest
    ) -> pb.CreateModelVersionResponse:
        validation.check_model_name(request.name)
        lineage = self._lineage.resolve(
            Origin(
                request.source,
                run_id=request.run_id,
                model_id=request.model_id,
                run_link=request.run_link,
                experiment_id=request.experiment_id,
                tags=request.tags,
            )
        )
        version = self._store.create_model_version(
            request.name,
            request.source,
            run_id=lineage.run_id,
            tags=dict(request.tags),
            run_link=lineage.run_link,
            description=request.description,
            experiment_id=lineage.experiment_id,
            request_id=request.request_id,
            model_id=lineage.model_id,
            storage_location=lineage.storage_location,
        )
        return pb.CreateModelVersionResponse(model_version=model_version_message(version))

    def GetModelVersion(self, request: pb.GetModelVersionRequest) -> pb.GetModelVersionResponse:
        return self._version_response(self._store.get_model_version(request.name, request.version))

    def _version_response(self, version: ModelVersion) -> pb.GetModelVersionResponse:
        return self._responses.of(
            (version,),
            lambda: pb.GetModelVersionResponse(model_version=model_version_message(version)),
        )

    def UpdateModelVersion(
        self, request: pb.UpdateModelVersionRequest
    ) -> pb.UpdateModelVersionResponse:
        description = request.description if request.HasField("description") else None
        version = self._store.update_model_version(
            request.name,
            request.version,
            description,
            etag=request.etag,
            request_id=request.request_id,
        )
        return pb.UpdateModelVersionResponse(model_version=model_version_message(version))

    def TransitionModelVersionStage(
        self, request: pb.TransitionModelVersionStageRequest
    ) -> pb.TransitionModelVersionStageResponse:
        version = self._store.transition_model_version_stage(
            request.name,
            request.version,
            request.stage,
            request.archive_existing_versions,
            etag=request.etag,
            request_id=request.request_id,
        )
        return pb.TransitionModelVersionStageResponse(model_version=model_version_message(version))

    def DeleteModelVersion(
        self, request: pb.DeleteModelVersionRequest
    ) -> pb.DeleteModelVersionResponse:
        self._store.delete_model_version(
            request.name, request.version, etag=request.etag, request_id=request.request_id
        )
        return pb.DeleteModelVersionResponse()

    def SearchModelVersions(
        self, request: pb.SearchModelVersionsRequest
    ) -> pb.SearchModelVersionsResponse:
        page = self._store.search_model_versions(
            request.filter, list(request.order_by), request.page_size, request.page_token
        )
        return pb.SearchModelVersionsResponse(
            model_versions=[model_version_message(v) for v in page.items],
            next_page_token=page.next_page_token,
        )

    def GetModelVersionDownloadUri(
        self, request: pb.GetModelVersionDownloadUriRequest
    ) -> pb.GetModelVersionDownloadUriResponse:
        uri = self._store.get_model_version_download_uri(request.name, request.version)
        return pb.GetModelVersionDownloadUriResponse(artifact_uri=uri)

    # -- tags --------------------------------------------------------------------------------

    def SetRegisteredModelTag(
        self, request: pb.SetRegisteredModelTagRequest
    ) -> pb.SetRegisteredModelTagResponse:
        self._store.set_registered_model_tag(
            request.name,
            request.key,
            request.value,
            etag=request.etag,
            request_id=request.request_id,
        )
        return pb.SetRegisteredModelTagResponse()

    def DeleteRegisteredModelTag(
        self, request: pb.DeleteRegisteredModelTagRequest
    ) -> pb.DeleteRegisteredModelTagResponse:
        self._store.delete_registered_model_tag(
            request.name, request.key, etag=request.etag, request_id=request.request_id
        )
        return pb.DeleteRegisteredModelTagResponse()

    def SetModelVersionTag(
        self, request: pb.SetModelVersionTagRequest
    ) -> pb.SetModelVersionTagResponse:
        self._store.set_model_version_tag(
            request.name,
            request.version,
            request.key,
            request.value,
            etag=request.etag,
            request_id=request.request_id,
        )
        return pb.SetModelVersionTagResponse()

    def DeleteModelVersionTag(
        self, request: pb.DeleteModelVersionTagRequest
    ) -> pb.DeleteModelVersionTagResponse:
        self._store.delete_model_version_tag(
            request.name,
            request.version,
            request.key,
            etag=request.etag,
            request_id=request.request_id,
        )
        return pb.DeleteModelVersionTagResponse()

    # -- aliases -----------------------------------------------------------------------------

    def SetRegisteredModelAlias(
        self, request: pb.SetRegisteredModelAliasRequest
    ) -> pb.SetRegisteredModelAliasResponse:
        self._store.set_registered_model_alias(
            request.name,
            request.alias,
            request.version,
            etag=request.etag,
            request_id=request.request_id,
        )
        return pb.SetRegisteredModelAliasResponse()

    def DeleteRegisteredModelAlias(
        self, request: pb.DeleteRegisteredModelAliasRequest
    ) -> pb.DeleteRegisteredModelAliasResponse:
        self._store.delete_registered_model_alias(
            request.name, request.alias, etag=request.etag, request_id=request.request_id
        )
        return pb.DeleteRegisteredModelAliasResponse()

    def GetModelVersionByAlias(
        self, request: pb.GetModelVersionByAliasRequest
    ) -> pb.GetModelVersionByAliasResponse:
        return self._aliased_response(
            self._store.get_model_version_by_alias(request.name, request.alias, _as_of(request))
        )

    def _aliased_response(self, version: ModelVersion) -> pb.GetModelVersionByAliasResponse:
        return self._responses.of(
            (version,),
            lambda: pb.GetModelVersionByAliasResponse(model_version=model_version_message(version)),
        )

    # -- import ------------------------------------------------------------------------------

    def ImportRegisteredModel(
        self, request: pb.ImportRegisteredModelRequest
    ) -> pb.ImportRegisteredModelResponse:
        name = request.registered_model.name
        result = self._store.import_registered_model(
            imported_model_record(request.registered_model),
            [
                imported_version_record(version, name, f"model_versions[{index}]")
                for index, version in enumerate(request.model_versions)
            ],
            last_version=request.last_version,
            on_conflict=conflict_policy_of(request.on_conflict),
            request_id=request.request_id,
        )
        return pb.ImportRegisteredModelResponse(
            registered_model=registered_model_message(result.model),
            outcome=import_outcome_message(result.outcome),
        )

    # -- restore after delete ----------------------------------------------------------------

    def RestoreRegisteredModel(
        self, request: trash_pb2.RestoreRegisteredModelRequest
    ) -> trash_pb2.RestoreRegisteredModelResponse:
        model = self._store.restore_registered_model(
            request.name, request.new_name, request_id=request.request_id
        )
        return trash_pb2.RestoreRegisteredModelResponse(
            registered_model=registered_model_message(model)
        )

    def RestoreModelVersion(
        self, request: trash_pb2.RestoreModelVersionRequest
    ) -> trash_pb2.RestoreModelVersionResponse:
        version = self._store.restore_model_version(
            request.name, request.version, request_id=request.request_id
        )
        return trash_pb2.RestoreModelVersionResponse(model_version=model_version_message(version))

    def ListDeletedRegisteredModels(
        self, request: trash_pb2.ListDeletedRegisteredModelsRequest
    ) -> trash_pb2.ListDeletedRegisteredModelsResponse:
        page = self._store.list_deleted_registered_models(request.page_size, request.page_token)
        return trash_pb2.ListDeletedRegisteredModelsResponse(
            deleted_registered_models=[deleted_model_message(m) for m in page.items],
            next_page_token=page.next_page_token,
        )

    def ListDeletedModelVersions(
        self, request: trash_pb2.ListDeletedModelVersionsRequest
    ) -> trash_pb2.ListDeletedModelVersionsResponse:
        versions = self._store.list_deleted_model_versions(request.name)
        return trash_pb2.ListDeletedModelVersionsResponse(
            deleted_model_versions=[deleted_version_message(v) for v in versions]
        )

    # -- events ------------------------------------------------------------------------------

    def WatchEvents(
        self, request: events_pb2.WatchEventsRequest, wanted: Callable[[], bool]
    ) -> Generator[events_pb2.WatchEventsResponse, None, None]:
        """The stream of events and heartbeats, until ``wanted()`` turns false (the caller went
        away). A request the filters refuse raises here, before any stream exists, so that a
        transport answers it with an error status; what goes wrong later ends the stream."""
        check_event_filters(request.start_after, request.model_names)
        event_types = event_types_of(request.event_types)
        self._store.retention.check_watch_start(request.start_after)
        watched = self._feed.watch(
            request.start_after, list(request.model_names), event_types, wanted
        )
        return (
            events_pb2.WatchEventsResponse(
                event=None if event is None else event_message(event),
                high_water_sequence=position,
            )
            for event, position in watched
        )

    async def WatchEventsAsync(
        self, request: events_pb2.WatchEventsRequest | InvalidArgument, _context: object = None
    ) -> AsyncGenerator[events_pb2.WatchEventsResponse, None]:
        """WatchEvents on an event loop, as the asyncio server serves it: the same stream,
        holding no thread while it waits; it ends when its task is cancelled (the caller went
        away). A request that did not parse arrives as its InvalidArgument. The server calls it
        with its call context, which it does not need (one generator fewer per message than a
        wrapper dropping it)."""
        if isinstance(request, InvalidArgument):
            raise request
        check_event_filters(request.start_after, request.model_names)
        event_types = event_types_of(request.event_types)
        watched = self._feed.watch_async(
            request.start_after, list(request.model_names), event_types
        )
        # Closed with this stream, the feed's own frees its place at once.
        async with aclosing(watched):
            async for event, position in watched:
                if event is None:
                    yield events_pb2.WatchEventsResponse(high_water_sequence=position)
                else:
                    yield self._streamed_event(event)

    def _streamed_event(self, event: Event) -> events_pb2.WatchEventsResponse:
        """The response carrying ``event``, built once for all the streams it fans out to (the
        feed hands each of them the same Event). Only the event loop calls this."""
        kept = self._streamed.get(event.sequence)
        if kept is not None and kept[0] is event:
            return kept[1]
        response = events_pb2.WatchEventsResponse(
            event=event_message(event), high_water_sequence=event.sequence
        )
        self._streamed[event.sequence] = (event, response)
        if len(self._streamed) > STREAMED_KEPT:
            self._streamed.popitem(last=False)
        return response

    def ListEvents(self, request: events_pb2.ListEventsRequest) -> events_pb2.ListEventsResponse:
        page = self._store.list_events(
            request.start_after,
            list(request.model_names),
            event_types_of(request.event_types),
            request.page_size,
            request.page_token,
            newest_first=request.newest_first,
            version=request.version,
        )
        return events_pb2.ListEventsResponse(
            events=[event_message(e) for e in page.items], next_page_token=page.next_page_token
        )

    # -- webhooks ----------------------------------------------------------------------------

    def CreateWebhook(
        self, request: webhooks_pb2.CreateWebhookRequest
    ) -> webhooks_pb2.CreateWebhookResponse:
        fields = webhook_fields_of(request)
        self._sender.policy.check(fields.url)
        webhook = self._webhooks.create_webhook(fields, request_id=request.request_id)
        return webhooks_pb2.CreateWebhookResponse(webhook=webhook_message(webhook))

    def ListWebhooks(
        self, request: webhooks_pb2.ListWebhooksRequest
    ) -> webhooks_pb2.ListWebhooksResponse:
        webhooks = self._webhooks.list_webhooks()
        return webhooks_pb2.ListWebhooksResponse(webhooks=[webhook_message(w) for w in webhooks])

    def UpdateWebhook(
        self, request: webhooks_pb2.UpdateWebhookRequest
    ) -> webhooks_pb2.UpdateWebhookResponse:
        mask = list(request.update_mask.paths) or list(WEBHOOK_FIELDS)
        unknown = sorted(set(mask) - set(WEBHOOK_FIELDS))
        if unknown:
            raise InvalidArgument(
                f"update_mask names unknown fields {unknown}; known: {list(WEBHOOK_FIELDS)}",
                field="update_mask",
            )
        current = self._webhooks.get_webhook(request.id)
        fields = WebhookFields(
            url=request.url if "url" in mask else current.url,
            event_types=(
                event_types_of(request.event_types)
                if "event_types" in mask
                else current.event_types
            ),
            # An unmasked secret is left as it is: only masked fields are written.
            secret=request.secret if "secret" in mask else "",
            enabled=request.enabled if "enabled" in mask else current.enabled,
            description=request.description if "description" in mask else current.description,
            name=request.name if "name" in mask else current.name,
        )
        if "url" in mask:
            self._sender.policy.check(fields.url)
        webhook = self._webhooks.update_webhook(
            request.id, fields, mask, request_id=request.request_id
        )
        return webhooks_pb2.UpdateWebhookResponse(webhook=webhook_message(webhook))

    def DeleteWebhook(
        self, request: webhooks_pb2.DeleteWebhookRequest
    ) -> webhooks_pb2.DeleteWebhookResponse:
        self._webhooks.delete_webhook(request.id, request_id=request.request_id)
        return webhooks_pb2.DeleteWebhookResponse()

    def TestWebhook(
        self, request: webhooks_pb2.TestWebhookRequest
    ) -> webhooks_pb2.TestWebhookResponse:
        # Unspecified (0) asks for the registry's own test body.
        event_type = (
            event_types_of([request.event_type], "event_type")[0] if request.event_type else None
        )
        url, secret = self._webhooks.webhook_target(request.id)
        outcome = self._sender.test(url, secret, event_type)
        return webhooks_pb2.TestWebhookResponse(
            success=not outcome.error,
            response_code=outcome.response_code,
            error=outcome.error,
            response_body=outcome.response_body,
        )

    def ListWebhookDeliveries(
        self, request: webhooks_pb2.ListWebhookDeliveriesRequest
    ) -> webhooks_pb2.ListWebhookDeliveriesResponse:
        page = self._webhooks.list_webhook_deliveries(
            request.webhook_id,
            delivery_status_of(request.status),
            request.page_size,
            request.page_token,
        )
        return webhooks_pb2.ListWebhookDeliveriesResponse(
            deliveries=[delivery_message(d) for d in page.items],
            next_page_token=page.next_page_token,
        )

    # -- transition requests -----------------------------------------------------------------

    def CreateTransitionRequest(
        self, request: requests_pb2.CreateTransitionRequestRequest
    ) -> requests_pb2.CreateTransitionRequestResponse:
        created = self._requests.create(
            request.name,
            request.version,
            request.stage,
            request.alias,
            delete_alias=request.delete_alias,
            archive_existing_versions=request.archive_existing_versions,
            comment=request.comment,
            request_id=request.request_id,
        )
        return requests_pb2.CreateTransitionRequestResponse(
            transition_request=transition_request_message(created)
        )

    def ListTransitionRequests(
        self, request: requests_pb2.ListTransitionRequestsRequest
    ) -> requests_pb2.ListTransitionRequestsResponse:
        page = self._requests.list(
            request.name,
            request.version,
            state_of(request.state),
            request.page_size,
            request.page_token,
        )
        return requests_pb2.ListTransitionRequestsResponse(
            transition_requests=[transition_request_message(r) for r in page.items],
            next_page_token=page.next_page_token,
        )

    def ApproveTransitionRequest(
        self, request: requests_pb2.ApproveTransitionRequestRequest
    ) -> requests_pb2.ApproveTransitionRequestResponse:
        approved, version = self._requests.approve(request.id, request.etag, request.comment)
        return requests_pb2.ApproveTransitionRequestResponse(
            transition_request=transition_request_message(approved),
            model_version=model_version_message(version),
        )

    def RejectTransitionRequest(
        self, request: requests_pb2.RejectTransitionRequestRequest
    ) -> requests_pb2.RejectTransitionRequestResponse:
        rejected = self._requests.reject(request.id, request.etag, request.comment)
        return requests_pb2.RejectTransitionRequestResponse(
            transition_request=transition_request_message(rejected)
        )

    def CancelTransitionRequest(
        self, request: requests_pb2.CancelTransitionRequestRequest
    ) -> requests_pb2.CancelTransitionRequestResponse:
        cancelled = self._requests.cancel(request.id, request.etag, request.comment)
        return requests_pb2.CancelTransitionRequestResponse(
            transition_request=transition_request_message(cancelled)
        )

    # -- access ------------------------------------------------------------------------------

    def CreateAccessToken(
        self, request: access_pb2.CreateAccessTokenRequest
    ) -> access_pb2.CreateAccessTokenResponse:
        token, secret = self._access.create_token(
            request.user_id, request.admin, request.description, request.expires_in
        )
        return access_pb2.CreateAccessTokenResponse(
            access_token=access_token_message(token), token=secret
        )

    def ListAccessTokens(
        self, request: access_pb2.ListAccessTokensRequest
    ) -> access_pb2.ListAccessTokensResponse:
        tokens = self._access.list_tokens(request.user_id)
        return access_pb2.ListAccessTokensResponse(
            access_tokens=[access_token_message(token) for token in tokens]
        )

    def RevokeAccessToken(
        self, request: access_pb2.RevokeAccessTokenRequest
    ) -> access_pb2.RevokeAccessTokenResponse:
        self._access.revoke_token(request.id)
        return access_pb2.RevokeAccessTokenResponse()

    def SetRegisteredModelPermission(
        self,
        request: access_pb2.SetRegisteredModelPermissionRequest,
    ) -> access_pb2.SetRegisteredModelPermissionResponse:
        permission = self._access.set_permission(
            request.name, request.user_id, permission_of(request.permission)
        )
        return access_pb2.SetRegisteredModelPermissionResponse(
            registered_model_permission=permission_message(permission)
        )

    def GetRegisteredModelPermissions(
        self,
        request: access_pb2.GetRegisteredModelPermissionsRequest,
    ) -> access_pb2.GetRegisteredModelPermissionsResponse:
        permissions = self._access.list_permissions(request.name)
        return access_pb2.GetRegisteredModelPermissionsResponse(
            registered_model_permissions=[permission_message(p) for p in permissions]
        )

    def DeleteRegisteredModelPermission(
        self,
        request: access_pb2.DeleteRegisteredModelPermissionRequest,
    ) -> access_pb2.DeleteRegisteredModelPermissionResponse:
        self._access.delete_permission(request.name, request.user_id)
        return access_pb2.DeleteRegisteredModelPermissionResponse()

    def GetCurrentIdentity(
        self, request: access_pb2.GetCurrentIdentityRequest
    ) -> access_pb2.GetCurrentIdentityResponse:
        caller = identity.current_access()
        return access_pb2.GetCurrentIdentityResponse(user_id=caller.user_id, admin=caller.admin)


def _as_of(request: pb.GetLatestVersionsRequest | pb.GetModelVersionByAliasRequest) -> int | None:
    return request.as_of if request.HasField("as_of") else None
