-- The audit log (issue 5): who changed what and when, for every administrative action,
-- whether it came from the `teep tam` commands (actor `cli`) or the admin REST API.
CREATE TABLE audit_log (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      BIGINT  NOT NULL,
    actor   TEXT    NOT NULL,
    role    TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    detail  TEXT    NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
