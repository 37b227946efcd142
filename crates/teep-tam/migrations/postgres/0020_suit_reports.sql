-- SUIT reports (draft-ietf-suit-report): the report key each device signs its SUIT_Report
-- with (enrolled by the administrator, distinct from the TEEP key), and the reports the
-- devices sent in QueryResponse, Success and Error (draft-ietf-teep-protocol-26 §4.5, §4.6).
CREATE TABLE device_report_keys (
    thumbprint BYTEA  NOT NULL PRIMARY KEY,
    cose_key   BYTEA  NOT NULL,
    added_at   BIGINT NOT NULL
);
CREATE TABLE suit_reports (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device          BYTEA  NOT NULL,
    received_at     BIGINT NOT NULL,
    message         TEXT   NOT NULL,
    manifest_uri    TEXT   NOT NULL,
    manifest_digest BYTEA  NOT NULL,
    success         BIGINT NOT NULL,
    reason          TEXT,
    protection      TEXT   NOT NULL,
    verified        BIGINT NOT NULL,
    report          BYTEA  NOT NULL
);
CREATE INDEX suit_reports_device ON suit_reports (device, id);
