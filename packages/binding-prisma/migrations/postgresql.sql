-- @portcullis/binding-prisma: the tables of prisma/schema.prisma on PostgreSQL. Safe to run again
-- (IF NOT EXISTS). Codes and tokens are stored as the SHA-256 hex of the value core hands the store.
CREATE TABLE IF NOT EXISTS portcullis_clients (
  id text PRIMARY KEY,
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
  id text PRIMARY KEY,
  username text NOT NULL UNIQUE,
  password_hash text NOT NULL
);

CREATE TABLE IF NOT EXISTS portcullis_grants (
  code_hash char(64) NOT NULL,
  client_id text NOT NULL,
  user_id text NOT NULL,
  redirect_uri text,
  scopes text NOT NULL,
  expires_at timestamp(3) with time zone NOT NULL,
  grant_id text NOT NULL,
  code_challenge text,
  code_challenge_method text,
  resources text,
  dpop_jkt text,
  consumed_at timestamp(3) with time zone,
  -- When the user authenticated (auth_time of RFC 9068); NULL: not known.
  auth_time timestamp(3) with time zone,
  PRIMARY KEY (code_hash, client_id)
);

CREATE INDEX IF NOT EXISTS portcullis_grants_expires_at ON portcullis_grants (expires_at);

CREATE TABLE IF NOT EXISTS portcullis_tokens (
  token_hash char(64) NOT NULL,
  kind text NOT NULL,
  client_id text NOT NULL,
  user_id text,
  scopes text NOT NULL,
  expires_at timestamp(3) with time zone NOT NULL,
  grant_id text NOT NULL,
  audience text,
  resources text,
  dpop_jkt text,
  consumed_at timestamp(3) with time zone,
  revoked_at timestamp(3) with time zone,
  issued_at timestamp(3) with time zone,
  -- A refresh token's auth_time (RFC 9068); NULL on access tokens and when not known.
  auth_time timestamp(3) with time zone,
  PRIMARY KEY (token_hash, kind)
);

CREATE INDEX IF NOT EXISTS portcullis_tokens_grant_id ON portcullis_tokens (grant_id);

CREATE INDEX IF NOT EXISTS portcullis_tokens_expires_at ON portcullis_tokens (expires_at);

-- A user's tokens per client (listUserGrants, revokeUserGrants).
CREATE INDEX IF NOT EXISTS portcullis_tokens_user_client ON portcullis_tokens (user_id, client_id);

-- Token tables made before issued_at (when core issued the token; NULL for older tokens).
ALTER TABLE portcullis_tokens ADD COLUMN IF NOT EXISTS issued_at timestamp(3) with time zone;

-- Code and token tables made before auth_time (when the user authenticated, RFC 9068; NULL for
-- older rows: their tokens carry no auth_time).
ALTER TABLE portcullis_grants ADD COLUMN IF NOT EXISTS auth_time timestamp(3) with time zone;
ALTER TABLE portcullis_tokens ADD COLUMN IF NOT EXISTS auth_time timestamp(3) with time zone;
