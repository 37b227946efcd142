-- Trusted Components marked as remediation (draft-ietf-teep-protocol-26 §4.3, issue 4): the
-- only components a device whose attestation failed or is missing may get. Keyed by the
-- manifest's component key (the catalog name), so the mark covers every version.
CREATE TABLE remediation_components (
    component_id BLOB NOT NULL PRIMARY KEY,
    marked_at    BIGINT NOT NULL
);
