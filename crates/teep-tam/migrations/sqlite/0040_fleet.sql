-- Fleet management (issue 5): device groups and their members, rollouts with per-device
-- progress, retired catalog versions, the enrolment allow and block lists, and the
-- manufacturer certificate a device was enrolled with. Keep in step with
-- ../postgres/0040_fleet.sql. Group policy rules live in device_policy with the target
-- `group:<name>`.

-- owner: the device-admin principal that administers the group; NULL: the operator.
-- allow_request: whether members' requested-tc-list is honoured (NULL: the global setting).
CREATE TABLE device_groups (
    name          TEXT    NOT NULL PRIMARY KEY,
    owner         TEXT,
    allow_request INTEGER,
    created_at    INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_name TEXT    NOT NULL,
    device     BLOB    NOT NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (group_name, device)
);
CREATE INDEX group_members_device ON group_members (device);

-- TAM-wide settings shared by every replica (for example allow_request).
CREATE TABLE fleet_settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

-- A rollout makes one catalog version the desired version for a target (`*` or
-- `group:<name>`), for a share of its devices (basis_points of 10000) or an explicit list
-- (rollout_targets). state: running, paused, aborted or completed.
CREATE TABLE rollouts (
    id              TEXT    NOT NULL PRIMARY KEY,
    component_id    BLOB    NOT NULL,
    sequence_number INTEGER NOT NULL,
    target          TEXT    NOT NULL,
    selection       TEXT    NOT NULL,
    basis_points    INTEGER NOT NULL DEFAULT 0,
    state           TEXT    NOT NULL,
    created_by      TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX rollouts_component ON rollouts (component_id, sequence_number);

CREATE TABLE rollout_targets (
    rollout TEXT NOT NULL,
    device  BLOB NOT NULL,
    PRIMARY KEY (rollout, device)
);
CREATE INDEX rollout_targets_device ON rollout_targets (device);

-- Per-device progress, written idempotently by whichever TAM process served the device:
-- offered (an Update carried the version), installed, failed (with the reason).
CREATE TABLE rollout_devices (
    rollout    TEXT    NOT NULL,
    device     BLOB    NOT NULL,
    state      TEXT    NOT NULL,
    reason     TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (rollout, device)
);
CREATE INDEX rollout_devices_device ON rollout_devices (device);

ALTER TABLE trusted_components ADD COLUMN retired INTEGER NOT NULL DEFAULT 0;

-- Enrolment allow and block lists. list: allow or block; kind: thumbprint (hex), subject or
-- issuer (a distinguished name written `CN=x, O=y` in certificate order, a pattern where `*` matches any run of characters).
CREATE TABLE admission_list (
    list     TEXT    NOT NULL,
    kind     TEXT    NOT NULL,
    pattern  TEXT    NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (list, kind, pattern)
);

-- The certificate a device was enrolled with (X.509 enrolment): subject and issuer names,
-- validity end and the DER certificate.
CREATE TABLE device_certificates (
    thumbprint  BLOB    NOT NULL PRIMARY KEY,
    subject     TEXT    NOT NULL,
    issuer      TEXT    NOT NULL,
    not_after   INTEGER NOT NULL,
    certificate BLOB    NOT NULL
);
