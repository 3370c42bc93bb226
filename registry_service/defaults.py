"""Defaults that the server settings (config.py) and the store they configure share.

Named here, below both, so that config imports no store and the store imports no settings: a
store made without settings (tests, the `db` and `auth` commands) behaves as a default server's.
"""

# Seconds a call waits for the database (to connect, for a pooled connection, for SQLite's write
# lock) before it fails with UNAVAILABLE instead of hanging while the database is down or locked.
DATABASE_TIMEOUT_S = 5.0

# How long a request_id is remembered unless configured otherwise: a day covers any client's
# retry schedule (MLflow's client gives up after minutes) and a restart or two.
IDEMPOTENCY_WINDOW_S = 86_400.0
# Seconds a deleted model or version stays restorable (--deleted-retention): 30 days.
DELETED_RETENTION_S = 2_592_000
