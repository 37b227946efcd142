-- SUIT reports (draft-ietf-suit-report): the report key each device signs its SUIT_Report
-- with (enrolled by the administrator, distinct from the TEEP key), and the reports the
-- devices sent in QueryResponse, Success and Error (draft-ietf-teep-protocol-26 §4.5, §4.6).
CREATE TABLE device_report_keys (
    thumbprint BLOB    NOT NULL PRIMARY KEY,
    cose_key   BLOB    NOT NULL,
    added_at   INTEGER NOT NULL
);
CREATE TABLE suit_reports (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    device          BLOB    NOT NULL,
    received_at     INTEGER NOT NULL,
    message         TEXT    NOT NULL,
    manifest_uri    TEXT    NOT NULL,
    manifest_digest BLOB    NOT NULL,
    success         INTEGER NOT NULL,
    reason          TEXT,
    protection      TEXT    NOT NULL,
    verified        INTEGER NOT NULL,
    report          BLOB    NOT NULL
);
CREATE INDEX suit_reports_device ON suit_reports (device, id);
