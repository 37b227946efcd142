-- Component ids that name a catalog manifest: its suit-manifest-component-id and every
-- component it installs. tc-list, requested-tc-list and policy may use either.
CREATE TABLE tc_aliases (
    alias       BYTEA NOT NULL PRIMARY KEY,
    manifest_id BYTEA NOT NULL
);
