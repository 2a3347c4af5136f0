"""What orders and payments share above the TLS toolkit: one service skeleton.

- `service`: the app and its lifespan (`create_service`, `Resources`), typed state;
- `answers`: the idempotent create (`Conflict` -> one 409 handler, `replayed`), `found`;
- `values`: `Currency` (ISO 4217, for both services) and `now_iso`;
- `database`, `migrations`: SQLAlchemy 2 async Core on SQLite (the default) or PostgreSQL,
  the schema by Alembic.

The toolkit (`mtls`) knows nothing of these: it serves any ASGI app over mTLS.
"""
