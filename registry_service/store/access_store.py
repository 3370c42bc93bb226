"""Access tokens and per-model permissions, on the registry's database.

A token is random (``secrets.token_urlsafe(32)``, 256 bits) and stored only as its SHA-256: with
that much entropy no dictionary or brute force reaches it, so a fast unsalted hash loses nothing
against a slow password hash, and it lets every call find its token with one indexed lookup.
Tokens are looked up on every call, never cached, so a revocation holds from the next call on.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.engine import Connection

from registry_service import validation
from registry_service.domain import AccessToken, ModelPermission, Permission
from registry_service.errors import NotFound
from registry_service.store.model_rows import lock_model_row, model_id_by_name
from registry_service.store.tables import access_tokens, registered_model_permissions
from registry_service.store.transactions import Transactions, now_millis

MAX_TOKEN_DESCRIPTION_LENGTH = 1000
# Marks the secret as this registry's, for secret scanners and for people reading a config file.
TOKEN_PREFIX = "mrt_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccessStore:
    """Tokens and permissions, in the transactions of ``store``."""

    def __init__(self, store: Transactions) -> None:
        self._store = store

    # -- tokens ------------------------------------------------------------------------------

    def create_token(
        self, user_id: str, admin: bool = False, description: str = ""
    ) -> tuple[AccessToken, str]:
        """The new token and its secret, which nothing can show again."""
        validation.check_identifier("user_id", user_id, validation.MAX_USER_ID_LENGTH)
        validation.check_text("description", description, MAX_TOKEN_DESCRIPTION_LENGTH)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._store.writing() as connection:
            token_id = connection.execute(
                insert(access_tokens)
                .values(
                    token_hash=token_hash(secret),
                    user_id=user_id,
                    admin=admin,
                    description=description,
                    creation_timestamp=now_millis(),
                    revocation_timestamp=None,
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
        """The unrevoked token whose secret this is, or None."""
        with self._store.reading() as connection:
            row = connection.execute(
                select(access_tokens)
                .where(access_tokens.c.token_hash == token_hash(secret))
                .where(access_tokens.c.revocation_timestamp.is_(None))
            ).one_or_none()
            return None if row is None else _token_of(row)

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
    )
