"""Who the caller is (authentication) and whether it may make this call (authorization).

One layer for both transports: the call pipeline (``calls``) asks ``Access.caller`` who calls and
runs the service method inside ``Access.serving``, which sets the caller for the store (see
``identity``) so that writes are stamped with it and searches keep to what it may read.

``RULES`` says what each RPC of ModelRegistryService needs. An RPC without a row is refused to
everyone, admins too: a new RPC is closed until someone decides who may call it.

What a call needs on the model its request names is decided here, from the request; whether
the caller holds it is decided by the store, on the row id the name resolves to, inside the
transaction that reads or writes that row (``store/model_access.py``): a rename racing the call
cannot move the decision onto another model. A caller without READ on a model gets exactly the
NOT_FOUND a missing model gives; a caller with READ but below the level the call needs gets
PERMISSION_DENIED naming that level.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from registry_service import identity
from registry_service.config import Settings
from registry_service.domain import Permission, Stage
from registry_service.errors import (
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
)
from registry_service.store.access_store import AccessStore

log = logging.getLogger(__name__)

AUTHORIZATION = "authorization"
# The same words for a missing, malformed, unknown and revoked credential: a guesser learns nothing.
UNAUTHENTICATED_MESSAGE = "missing or invalid credentials"
# How often a server stream checks again that its caller's credentials still hold.
STREAM_RECHECK_SECONDS = 1.0

Metadata = Sequence[tuple[str, str | bytes]]
AuthContext = Mapping[str, Iterable[bytes]]


@dataclass(frozen=True)
class Policy:
    """The settings the rules read."""

    # Case-folded: every case variant of a protected alias is protected.
    protected_aliases: frozenset[str]
    # Case-folded stages (--require-approval) whose entry needs MANAGE, else a request.
    approval_stages: frozenset[str] = frozenset()
    allow_self_approval: bool = False


@dataclass(frozen=True)
class Rule:
    """What one RPC needs beyond an authenticated caller."""

    admin: bool = False
    # The permission needed on the model named by the request's ``name`` field.
    level: Permission | None = None
    # When this says so, MANAGE is needed instead of ``level``.
    manage_when: Callable[[Any, Policy], bool] | None = None
    # Moving a version out of Production needs MANAGE, as moving one in does.
    guards_production: bool = False
    # The request's ``source`` may name a registered model, whose READ the store checks.
    reads_source: bool = False

    def describe(self) -> str:
        """The requirement as docs/security.md states it."""
        if self.admin:
            return "admin"
        if self.level is None:
            return "authenticated"
        needed = f"{self.level.name} on the model"
        if self.manage_when:
            needed += f"; {_WHEN[self.manage_when]}"
        if self.guards_production:
            needed += " or the version is in Production"
        if self.reads_source:
            needed += "; READ on the model a models:/ source names, in any spelling"
        return needed


def _into_production(request: Any, policy: Policy) -> bool:
    stage = str(request.stage).lower()
    return stage == Stage.PRODUCTION.value.lower() or stage in policy.approval_stages


def _protected_alias(request: Any, policy: Policy) -> bool:
    return str(request.alias).casefold() in policy.protected_aliases


_WHEN: dict[Callable[[Any, Policy], bool] | None, str] = {
    _into_production: "MANAGE when the stage is Production or in --require-approval,",
    _protected_alias: "MANAGE when the alias is in --protected-aliases, in any case",
}

AUTHENTICATED = Rule()
ADMIN = Rule(admin=True)
READ = Rule(level=Permission.READ)
EDIT = Rule(level=Permission.EDIT)
MANAGE = Rule(level=Permission.MANAGE)

# Every RPC of ModelRegistryService, and what it needs (tests check that none is missing).
RULES: dict[str, Rule] = {
    # Anyone authenticated may create a model, and then holds MANAGE on it.
    "CreateRegisteredModel": AUTHENTICATED,
    "GetRegisteredModel": READ,
    "RenameRegisteredModel": EDIT,
    "UpdateRegisteredModel": EDIT,
    "DeleteRegisteredModel": MANAGE,
    # Answers only with the models the caller may read.
    "SearchRegisteredModels": AUTHENTICATED,
    "GetLatestVersions": READ,
    "CreateModelVersion": Rule(level=Permission.EDIT, reads_source=True),
    "GetModelVersion": READ,
    "UpdateModelVersion": EDIT,
    "TransitionModelVersionStage": Rule(
        level=Permission.EDIT, manage_when=_into_production, guards_production=True
    ),
    "DeleteModelVersion": MANAGE,
    "SearchModelVersions": AUTHENTICATED,
    "GetModelVersionDownloadUri": READ,
    "SetRegisteredModelTag": EDIT,
    "DeleteRegisteredModelTag": EDIT,
    "SetModelVersionTag": EDIT,
    "DeleteModelVersionTag": EDIT,
    "SetRegisteredModelAlias": Rule(level=Permission.EDIT, manage_when=_protected_alias),
    "DeleteRegisteredModelAlias": Rule(level=Permission.EDIT, manage_when=_protected_alias),
    "GetModelVersionByAlias": READ,
    # Restore after delete: MANAGE as delete needs; a deleted model's on the grants it had then.
    "RestoreRegisteredModel": MANAGE,
    "RestoreModelVersion": MANAGE,
    # Answers only with the deleted models the caller could read.
    "ListDeletedRegisteredModels": AUTHENTICATED,
    "ListDeletedModelVersions": READ,
    # Writes the users, stages and timestamps it is given.
    "ImportRegisteredModel": ADMIN,
    "CreateAccessToken": ADMIN,
    "ListAccessTokens": ADMIN,
    "RevokeAccessToken": ADMIN,
    "SetRegisteredModelPermission": MANAGE,
    "GetRegisteredModelPermissions": MANAGE,
    "DeleteRegisteredModelPermission": MANAGE,
    "GetCurrentIdentity": AUTHENTICATED,
    # Both answer only with the events of models the caller may read.
    "WatchEvents": AUTHENTICATED,
    "ListEvents": AUTHENTICATED,
    # A webhook is sent the events of every model, whoever may read them.
    "CreateWebhook": ADMIN,
    "ListWebhooks": ADMIN,
    "UpdateWebhook": ADMIN,
    "DeleteWebhook": ADMIN,
    "TestWebhook": ADMIN,
    "ListWebhookDeliveries": ADMIN,
    # Transition requests (store/transition_requests.py decides the rest: the requester may not
    # approve its own request, and only the requester or an admin may cancel it).
    "CreateTransitionRequest": EDIT,
    # Answers only with the requests on models the caller may read.
    "ListTransitionRequests": AUTHENTICATED,
    "ApproveTransitionRequest": MANAGE,
    "RejectTransitionRequest": MANAGE,
    "CancelTransitionRequest": READ,
}

# RPCs whose refusal for want of MANAGE points at CreateTransitionRequest.
_REQUESTABLE = frozenset(
    {"TransitionModelVersionStage", "SetRegisteredModelAlias", "DeleteRegisteredModelAlias"}
)


def _names(value: str | None) -> frozenset[str]:
    return frozenset(part.strip() for part in (value or "").split(",") if part.strip())


def default_permission_of(settings: Settings) -> Permission | None:
    word = settings.default_permission.upper()
    return None if word == "NONE" else Permission[word]


def warn_if_open(settings: Settings) -> None:
    """Log a warning when a server without authentication listens beyond this machine."""
    if settings.auth != "none":
        return
    try:
        loopback = ipaddress.ip_address(settings.host).is_loopback
    except ValueError:
        loopback = settings.host == "localhost"
    if not loopback:
        log.warning(
            "--auth none on %s: every caller that reaches the server may do everything, "
            "admin operations included; use --auth token or --auth mtls",
            settings.host,
        )


class Access:
    """Authentication and authorization of calls to ModelRegistryService."""

    def __init__(self, settings: Settings, store: AccessStore) -> None:
        self._mode = settings.auth
        self._store = store
        self._default = default_permission_of(settings)
        self._admins = _names(settings.admin_identities)
        self._policy = Policy(
            protected_aliases=frozenset(
                alias.casefold() for alias in _names(settings.protected_aliases)
            ),
            approval_stages=frozenset(
                stage.casefold() for stage in _names(settings.require_approval)
            ),
            allow_self_approval=settings.allow_self_approval,
        )

    @property
    def reads_database(self) -> bool:
        """Whether telling who a caller is takes a database read (a token's lookup)."""
        return self._mode == "token"

    def caller(
        self, metadata: Metadata, auth_context: Callable[[], AuthContext]
    ) -> identity.Caller:
        """Who presents these credentials; Unauthenticated when nobody the server knows.
        ``auth_context`` gives the TLS peer's properties; only mTLS asks for them (gRPC builds
        them anew on each request, a measurable part of a point read's CPU)."""
        if self._mode == "none":
            return identity.Caller()
        user_id, admin = (
            self._token_identity(metadata)
            if self._mode == "token"
            else _certificate_identity(auth_context())
        )
        admin = admin or user_id in self._admins
        return identity.Caller(
            user_id, admin, admin or self._default is not None, default_level=self._default
        )

    def checks(self, rpc: str) -> bool:
        """Whether a call of ``rpc`` needs checking at all. Without authentication every caller
        is the same admin, which is also who the store serves when no caller is set
        (``identity.UNAUTHENTICATED``): a call of an RPC that has a rule then passes as it came,
        with no per-call work (in-process that work was about 7 % of a point read's CPU)."""
        return self._mode != "none" or rpc not in RULES

    @contextmanager
    def serving(self, rpc: str, request: object, caller: identity.Caller) -> Iterator[None]:
        """Run the enclosed call as ``caller``, once it is allowed to make it."""
        rule = RULES.get(rpc)
        if rule is None:
            raise PermissionDenied(f"{rpc} has no access rule, so nobody may call it")
        # A request that did not parse is refused by the servicer and reveals nothing.
        if not isinstance(request, InvalidArgument):
            if rule.admin and not caller.admin:
                raise PermissionDenied(f"{rpc} is for admins only")
            if rule.level is not None:
                requirement = self._requirement(rpc, rule, request)
                caller = dataclasses.replace(caller, requirement=requirement)
        with identity.calling_as(caller):
            yield

    def _token_identity(self, metadata: Metadata) -> tuple[str, bool]:
        values = [value for key, value in metadata if key == AUTHORIZATION]
        if len(values) != 1 or not isinstance(values[0], str):
            raise Unauthenticated(UNAUTHENTICATED_MESSAGE)
        scheme, _, secret = values[0].partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated(UNAUTHENTICATED_MESSAGE)
        token = self._store.valid_token(secret.strip())
        if token is None:
            raise Unauthenticated(UNAUTHENTICATED_MESSAGE)
        return token.user_id, token.admin

    def _requirement(self, rpc: str, rule: Rule, request: Any) -> identity.Requirement:
        """What the call needs on the model it names, as far as the request tells."""
        assert rule.level is not None
        manage = rule.manage_when is not None and rule.manage_when(request, self._policy)
        policy = self._policy
        return identity.Requirement(
            rpc,
            Permission.MANAGE if manage else rule.level,
            Permission.MANAGE if rule.guards_production else None,
            approval=rpc in _REQUESTABLE
            and (bool(policy.approval_stages) if rpc.startswith("Transition") else manage),
            self_approval=policy.allow_self_approval,
        )


def _certificate_identity(auth_context: AuthContext) -> tuple[str, bool]:
    """The first subject alternative name of the client certificate, else its common name."""
    for key in ("x509_subject_alternative_name", "x509_common_name"):
        names = auth_context.get(key) or ()
        for name in names:
            if name:
                return name.decode(), False
    raise Unauthenticated(UNAUTHENTICATED_MESSAGE)
