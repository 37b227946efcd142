-- Stateless QueryRequest tokens (src/token.rs). tam_secrets holds the secret that
-- authenticates them, generated once and shared by every TAM replica; used_tokens holds the
-- hash of every token already answered, whose unique key makes each token acceptable once.
CREATE TABLE tam_secrets (
    name       TEXT   NOT NULL PRIMARY KEY,
    secret     BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE used_tokens (
    token_hash BYTEA  NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_tokens_expiry ON used_tokens (expires_at);
