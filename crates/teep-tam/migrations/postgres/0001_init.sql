-- teep-tam schema, PostgreSQL flavour. Keep in step with ../sqlite/0001_init.sql: the queries in
-- src/store are shared, so only column types may differ (BLOB/BYTEA, INTEGER/BIGINT).

CREATE TABLE tc_signers (
    name       TEXT    NOT NULL PRIMARY KEY,
    cose_key   BYTEA   NOT NULL,
    thumbprint BYTEA   NOT NULL UNIQUE,
    added_at   BIGINT  NOT NULL
);

CREATE TABLE trusted_components (
    component_id    BYTEA   NOT NULL,
    sequence_number BIGINT  NOT NULL,
    envelope        BYTEA   NOT NULL,
    signer          TEXT    NOT NULL,
    added_at        BIGINT  NOT NULL,
    PRIMARY KEY (component_id, sequence_number)
);

CREATE TABLE devices (
    thumbprint      BYTEA   NOT NULL PRIMARY KEY,
    cose_key        BYTEA   NOT NULL,
    label           TEXT,
    wire            TEXT    NOT NULL,
    blocked         BIGINT  NOT NULL DEFAULT 0,
    enrolled_at     BIGINT  NOT NULL,
    last_seen       BIGINT,
    last_error_code BIGINT,
    last_error_msg  TEXT,
    last_error_at   BIGINT
);

CREATE TABLE device_policy (
    device          TEXT    NOT NULL,
    component_id    BYTEA   NOT NULL,
    action          TEXT    NOT NULL,
    min_sequence    BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (device, component_id)
);

CREATE TABLE tokens (
    token_hash  BYTEA   NOT NULL PRIMARY KEY,
    holder      TEXT    NOT NULL,
    purpose     TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    consumed    BIGINT  NOT NULL DEFAULT 0,
    context     TEXT
);
CREATE INDEX tokens_holder ON tokens (holder, consumed, expires_at);

CREATE TABLE device_components (
    device          BYTEA   NOT NULL,
    component_id    BYTEA   NOT NULL,
    sequence_number BIGINT,
    digest          BYTEA,
    updated_at      BIGINT  NOT NULL,
    PRIMARY KEY (device, component_id)
);

CREATE TABLE session_events (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device  BYTEA,
    at      BIGINT  NOT NULL,
    kind    TEXT    NOT NULL,
    detail  TEXT    NOT NULL
);
CREATE INDEX session_events_device ON session_events (device, id);
