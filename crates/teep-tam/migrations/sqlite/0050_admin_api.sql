-- The admin REST API (issue 5): principals with roles, their API tokens (stored only as
-- SHA-256 hashes) and client certificates, ownership of TC signers, and hosted payloads of
-- URI-based Trusted Components. Keep in step with ../postgres/0050_admin_api.sql.

-- NULL: operator-owned. Otherwise the developer principal that owns the signer key.
ALTER TABLE tc_signers ADD COLUMN owner TEXT;

CREATE TABLE principals (
    name       TEXT    NOT NULL PRIMARY KEY,
    role       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    disabled   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE api_tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    token_hash BLOB    NOT NULL UNIQUE,
    principal  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    last_used  INTEGER,
    revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_tokens_principal ON api_tokens (principal);

CREATE TABLE principal_certs (
    fingerprint BLOB    NOT NULL PRIMARY KEY,
    principal   TEXT    NOT NULL,
    added_at    INTEGER NOT NULL
);
CREATE INDEX principal_certs_principal ON principal_certs (principal);

CREATE TABLE payloads (
    name        TEXT    NOT NULL PRIMARY KEY,
    data        BLOB    NOT NULL,
    size        INTEGER NOT NULL,
    sha256      BLOB    NOT NULL,
    owner       TEXT,
    uploaded_at INTEGER NOT NULL
);
