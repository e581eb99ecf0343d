-- @portcullis/binding-prisma: the tables of prisma/sqlite.prisma on SQLite (3.35+ for
-- UPDATE ... RETURNING). Safe to run again (IF NOT EXISTS). Times are what Prisma's SQLite
-- driver adapters write: ISO 8601 text in UTC by default, which compares in time order.
CREATE TABLE IF NOT EXISTS portcullis_clients (
  id text PRIMARY KEY NOT NULL,
  secret_hash text,
  redirect_uris text NOT NULL,
  grant_types text NOT NULL,
  scopes text NOT NULL,
  default_scopes text,
  token_endpoint_auth_method text,
  resource_server boolean,
  resources text
);

CREATE TABLE IF NOT EXISTS portcullis_users (
  id text PRIMARY KEY NOT NULL,
  username text NOT NULL UNIQUE,
  password_hash text NOT NULL
);

CREATE TABLE IF NOT EXISTS portcullis_grants (
  code_hash text NOT NULL,
  client_id text NOT NULL,
  user_id text NOT NULL,
  redirect_uri text,
  scopes text NOT NULL,
  expires_at datetime NOT NULL,
  grant_id text NOT NULL,
  code_challenge text,
  code_challenge_method text,
  resources text,
  dpop_jkt text,
  consumed_at datetime,
  -- When the user authenticated (auth_time of RFC 9068); NULL: not known.
  auth_time datetime,
  PRIMARY KEY (code_hash, client_id)
);

CREATE INDEX IF NOT EXISTS portcullis_grants_expires_at ON portcullis_grants (expires_at);

CREATE TABLE IF NOT EXISTS portcullis_tokens (
  token_hash text NOT NULL,
  kind text NOT NULL,
  client_id text NOT NULL,
  user_id text,
  scopes text NOT NULL,
  expires_at datetime NOT NULL,
  grant_id text NOT NULL,
  audience text,
  resources text,
  dpop_jkt text,
  consumed_at datetime,
  revoked_at datetime,
  issued_at datetime,
  -- A refresh token's auth_time (RFC 9068); NULL on access tokens and when not known.
  auth_time datetime,
  PRIMARY KEY (token_hash, kind)
);

CREATE INDEX IF NOT EXISTS portcullis_tokens_grant_id ON portcullis_tokens (grant_id);

CREATE INDEX IF NOT EXISTS portcullis_tokens_expires_at ON portcullis_tokens (expires_at);

-- A user's tokens per client (listUserGrants, revokeUserGrants).
CREATE INDEX IF NOT EXISTS portcullis_tokens_user_client ON portcullis_tokens (user_id, client_id);

-- Token tables made before issued_at (when core issued the token; NULL for older tokens):
-- SQLite has no ADD COLUMN IF NOT EXISTS, so migrate() runs this and ignores "duplicate column".
-- By hand, when the table lacks the column:
--   ALTER TABLE portcullis_tokens ADD COLUMN issued_at datetime;

-- Code and token tables made before auth_time (when the user authenticated, RFC 9068; NULL for
-- older rows: their tokens carry no auth_time): migrate() runs these the same way. By hand, when
-- the table lacks the column:
--   ALTER TABLE portcullis_grants ADD COLUMN auth_time datetime;
--   ALTER TABLE portcullis_tokens ADD COLUMN auth_time datetime;
