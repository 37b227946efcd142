-- The admin REST API (issue 5): principals with roles, their API tokens (stored only as
-- SHA-256 hashes) and client certificates, ownership of TC signers, and hosted payloads of
-- URI-based Trusted Components. Keep in step with ../sqlite/0050_admin_api.sql.

-- NULL: operator-owned. Otherwise the developer principal that owns the signer key.
ALTER TABLE tc_signers ADD COLUMN owner TEXT;

CREATE TABLE principals (
    name       TEXT    NOT NULL PRIMARY KEY,
    role       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    disabled   BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE api_tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    token_hash BYTEA   NOT NULL UNIQUE,
    principal  TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT ,
    last_used  BIGINT ,
    revoked    BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX api_tokens_principal ON api_tokens (principal);

CREATE TABLE principal_certs (
    fingerprint BYTEA   NOT NULL PRIMARY KEY,
    principal   TEXT    NOT NULL,
    added_at    BIGINT  NOT NULL
);
CREATE INDEX principal_certs_principal ON principal_certs (principal);

CREATE TABLE payloads (
    name        TEXT    NOT NULL PRIMARY KEY,
    data        BYTEA   NOT NULL,
    size        BIGINT  NOT NULL,
    sha256      BYTEA   NOT NULL,
    owner       TEXT,
    uploaded_at BIGINT  NOT NULL
);
