-- The last attestation outcome of each device (draft-ietf-teep-protocol-26 §4.3): what the
-- TAM concluded from the Verifier's Attestation Result, and why.
CREATE TABLE device_attestation (
    thumbprint   BYTEA NOT NULL PRIMARY KEY,
    trusted      BIGINT NOT NULL,
    reason       TEXT NOT NULL,
    model        TEXT NOT NULL,
    appraised_at BIGINT NOT NULL,
    ueid         BYTEA
);
