-- teep-tam schema, SQLite flavour. Keep in step with ../postgres/0001_init.sql: the queries in
-- src/store are shared, so only column types may differ (BLOB/BYTEA, INTEGER/BIGINT).

CREATE TABLE tc_signers (
    name       TEXT    NOT NULL PRIMARY KEY,
    cose_key   BLOB    NOT NULL,
    thumbprint BLOB    NOT NULL UNIQUE,
    added_at   INTEGER NOT NULL
);

CREATE TABLE trusted_components (
    component_id    BLOB    NOT NULL,
    sequence_number INTEGER NOT NULL,
    envelope        BLOB    NOT NULL,
    signer          TEXT    NOT NULL,
    added_at        INTEGER NOT NULL,
    PRIMARY KEY (component_id, sequence_number)
);

CREATE TABLE devices (
    thumbprint      BLOB    NOT NULL PRIMARY KEY,
    cose_key        BLOB    NOT NULL,
    label           TEXT,
    wire            TEXT    NOT NULL,
    blocked         INTEGER NOT NULL DEFAULT 0,
    enrolled_at     INTEGER NOT NULL,
    last_seen       INTEGER,
    last_error_code INTEGER,
    last_error_msg  TEXT,
    last_error_at   INTEGER
);

CREATE TABLE device_policy (
    device          TEXT    NOT NULL,
    component_id    BLOB    NOT NULL,
    action          TEXT    NOT NULL,
    min_sequence    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device, component_id)
);

CREATE TABLE tokens (
    token_hash  BLOB    NOT NULL PRIMARY KEY,
    holder      TEXT    NOT NULL,
    purpose     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    consumed    INTEGER NOT NULL DEFAULT 0,
    context     TEXT
);
CREATE INDEX tokens_holder ON tokens (holder, consumed, expires_at);

CREATE TABLE device_components (
    device          BLOB    NOT NULL,
    component_id    BLOB    NOT NULL,
    sequence_number INTEGER,
    digest          BLOB,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (device, component_id)
);

CREATE TABLE session_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    device  BLOB,
    at      INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    detail  TEXT    NOT NULL
);
CREATE INDEX session_events_device ON session_events (device, id);
