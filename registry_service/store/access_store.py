"""Access tokens and per-model permissions, on the registry's database.

A token is random (``secrets.token_urlsafe(32)``, 256 bits) and stored only as its SHA-256: with
that much entropy no dictionary or brute force reaches it, so a fast unsalted hash loses nothing
against a slow password hash, and it lets every call find its token with one indexed lookup.
Tokens are looked up on every call, never cached, so a revocation or an expiry holds from the
next call on. A token's last use is written at most once a minute: knowing the minute is enough
to spot a forgotten or stolen token, and a write per call would double the cost of every read.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading

from sqlalchemy import Row, delete, insert, or_, select, update
from sqlalchemy.engine import Connection

from registry_service import validation
from registry_service.domain import AccessToken, ModelPermission, Permission
from registry_service.errors import InvalidArgument, NotFound, Unavailable
from registry_service.store.model_rows import lock_model_row, model_id_by_name
from registry_service.store.tables import access_tokens, registered_model_permissions
from registry_service.store.transactions import Transactions, now_millis

log = logging.getLogger(__name__)

MAX_TOKEN_DESCRIPTION_LENGTH = 1000
# Marks the secret as this registry's, for secret scanners and for people reading a config file.
TOKEN_PREFIX = "mrt_"
# How stale a token's last_used_timestamp may be, in milliseconds.
LAST_USED_RESOLUTION_MS = 60_000


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# The longest lifetime a token can be given: about a century.
MAX_EXPIRES_IN_S = 100 * 365 * 86_400


class AccessStore:
    """Tokens and permissions, in the transactions of ``store``. ``max_ttl`` (seconds, 0: none)
    caps a new token's lifetime and is the lifetime of one created without ``expires_in``."""

    def __init__(self, store: Transactions, max_ttl: float = 0) -> None:
        self._store = store
        self._max_ttl = max_ttl
        # Token id -> the last_used_timestamp this process last wrote, so that most calls skip
        # even the conditional UPDATE.
        self._last_used: dict[int, int] = {}
        self._last_used_lock = threading.Lock()

    # -- tokens ------------------------------------------------------------------------------

    def create_token(
        self, user_id: str, admin: bool = False, description: str = "", expires_in: int = 0
    ) -> tuple[AccessToken, str]:
        """The new token and its secret, which nothing can show again. ``expires_in`` seconds
        from now it stops working; 0 for the server's maximum lifetime (or never, without one)."""
        validation.check_identifier("user_id", user_id, validation.MAX_USER_ID_LENGTH)
        validation.check_text("description", description, MAX_TOKEN_DESCRIPTION_LENGTH)
        lifetime = self._lifetime(expires_in)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = now_millis()
        with self._store.writing() as connection:
            token_id = connection.execute(
                insert(access_tokens)
                .values(
                    token_hash=token_hash(secret),
                    user_id=user_id,
                    admin=admin,
                    description=description,
                    creation_timestamp=now,
                    revocation_timestamp=None,
                    expiration_timestamp=None if lifetime is None else now + lifetime * 1000,
                )
                .returning(access_tokens.c.id)
            ).scalar_one()
            return _token(connection, token_id), secret

    def list_tokens(self, user_id: str = "") -> list[AccessToken]:
        validation.check_optional_line("user_id", user_id, validation.MAX_USER_ID_LENGTH)
        statement = select(access_tokens).order_by(access_tokens.c.id)
        if user_id:
            statement = statement.where(access_tokens.c.user_id == user_id)
        with self._store.reading() as connection:
            return [_token_of(row) for row in connection.execute(statement)]

    def revoke_token(self, token_id: int) -> None:
        """Revoke the token; revoking a revoked token again changes nothing."""
        # Ids are 32-bit serials, numbered like versions.
        validation.check_version(token_id, "id")
        with self._store.writing() as connection:
            found = connection.execute(
                select(access_tokens.c.id).where(access_tokens.c.id == token_id)
            ).scalar_one_or_none()
            if found is None:
                raise NotFound(f"access token {token_id} does not exist", field="id")
            connection.execute(
                update(access_tokens)
                .where(access_tokens.c.id == token_id)
                .where(access_tokens.c.revocation_timestamp.is_(None))
                .values(revocation_timestamp=now_millis())
            )

    def valid_token(self, secret: str) -> AccessToken | None:
        """The unrevoked, unexpired token whose secret this is, or None; its use is recorded."""
        now = now_millis()
        with self._store.reading() as connection:
            row = connection.execute(
                select(access_tokens)
                .where(access_tokens.c.token_hash == token_hash(secret))
                .where(access_tokens.c.revocation_timestamp.is_(None))
                .where(
                    or_(
                        access_tokens.c.expiration_timestamp.is_(None),
                        access_tokens.c.expiration_timestamp > now,
                    )
                )
            ).one_or_none()
        if row is None:
            return None
        token = _token_of(row)
        self._record_use(token, now)
        return token

    def _lifetime(self, expires_in: int) -> int | None:
        """Seconds a new token lives, None for ever."""
        max_ttl = int(self._max_ttl)
        if expires_in < 0:
            raise InvalidArgument(
                f"expires_in must be a number of seconds, or 0 for the server's default; "
                f"got {expires_in}",
                field="expires_in",
            )
        # Past this the expiry time would not fit the column (a century is plenty).
        if expires_in > MAX_EXPIRES_IN_S:
            raise InvalidArgument(
                f"expires_in must be at most {MAX_EXPIRES_IN_S} seconds; got {expires_in}",
                field="expires_in",
            )
        if max_ttl and expires_in > max_ttl:
            raise InvalidArgument(
                f"expires_in {expires_in} is longer than this server allows "
                f"(--token-max-ttl {max_ttl} seconds)",
                field="expires_in",
            )
        return expires_in or max_ttl or None

    def _record_use(self, token: AccessToken, now: int) -> None:
        """Write ``now`` as the token's last use unless it was written less than a minute ago.
        The UPDATE's own condition keeps replicas from writing it more often between them."""
        stale_before = now - LAST_USED_RESOLUTION_MS
        with self._last_used_lock:
            written = max(self._last_used.get(token.id, 0), token.last_used_timestamp or 0)
            if written > stale_before:
                return
            self._last_used[token.id] = now
        try:
            self._write_last_use(token.id, now, stale_before)
        except Unavailable as error:
            # Bookkeeping never fails the call it describes; the next minute tries again.
            with self._last_used_lock:
                self._last_used.pop(token.id, None)
            log.warning("could not record the use of access token %d: %s", token.id, error)

    def _write_last_use(self, token_id: int, now: int, stale_before: int) -> None:
        with self._store.writing() as connection:
            connection.execute(
                update(access_tokens)
                .where(access_tokens.c.id == token_id)
                .where(
                    or_(
                        access_tokens.c.last_used_timestamp.is_(None),
                        access_tokens.c.last_used_timestamp <= stale_before,
                    )
                )
                .values(last_used_timestamp=now)
            )

    # -- permissions -------------------------------------------------------------------------

    def set_permission(self, name: str, user_id: str, permission: Permission) -> ModelPermission:
        validation.check_model_name(name)
        validation.check_identifier("user_id", user_id, validation.MAX_USER_ID_LENGTH)
        with self._store.writing() as connection:
            model_id = lock_model_row(connection, name)
            _delete_permission(connection, model_id, user_id)
            connection.execute(
                insert(registered_model_permissions).values(
                    model_id=model_id, user_id=user_id, permission=permission.name
                )
            )
        return ModelPermission(name, user_id, permission)

    def list_permissions(self, name: str) -> list[ModelPermission]:
        validation.check_model_name(name)
        with self._store.reading() as connection:
            model_id = model_id_by_name(connection, name)
            rows = connection.execute(
                select(registered_model_permissions)
                .where(registered_model_permissions.c.model_id == model_id)
                .order_by(registered_model_permissions.c.user_id)
            )
            return [ModelPermission(name, row.user_id, Permission[row.permission]) for row in rows]

    def delete_permission(self, name: str, user_id: str) -> None:
        validation.check_model_name(name)
        validation.check_identifier("user_id", user_id, validation.MAX_USER_ID_LENGTH)
        with self._store.writing() as connection:
            _delete_permission(connection, lock_model_row(connection, name), user_id)


def _delete_permission(connection: Connection, model_id: int, user_id: str) -> None:
    connection.execute(
        delete(registered_model_permissions)
        .where(registered_model_permissions.c.model_id == model_id)
        .where(registered_model_permissions.c.user_id == user_id)
    )


def _token(connection: Connection, token_id: int) -> AccessToken:
    return _token_of(
        connection.execute(select(access_tokens).where(access_tokens.c.id == token_id)).one()
    )


def _token_of(row: Row[tuple[object, ...]]) -> AccessToken:
    return AccessToken(
        id=row.id,
        user_id=row.user_id,
        admin=bool(row.admin),
        description=row.description,
        creation_timestamp=row.creation_timestamp,
        revocation_timestamp=row.revocation_timestamp,
        expiration_timestamp=row.expiration_timestamp,
        last_used_timestamp=row.last_used_timestamp,
    )
