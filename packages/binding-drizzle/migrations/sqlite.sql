-- @portcullis/binding-drizzle: the default tables on SQLite (3.35+ for UPDATE ... RETURNING).
-- Safe to run again (IF NOT EXISTS). Times are integer milliseconds since the epoch.
CREATE TABLE IF NOT EXISTS portcullis_clients (
  id text PRIMARY KEY NOT NULL,
  secret_hash text,
  redirect_uris text NOT NULL,
  grant_types text NOT NULL,
  scopes text NOT NULL,
  default_scopes text,
  token_endpoint_auth_method text,
  resource_server integer,
  resources text,
  -- Dynamic client registration (RFC 7591/7592): see the upgrade statements below.
  require_pushed_authorization_requests integer,
  dpop_bound_access_tokens integer,
  name text,
  uri text,
  logo_uri text,
  client_secret_expires_at integer,
  secret_never_expires integer,
  registration text,
  -- For the purge of never-used registrations: registration.issuedAt, and the first token's time.
  registered_at integer,
  first_used_at integer
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
  expires_at integer NOT NULL,
  grant_id text NOT NULL,
  code_challenge text,
  code_challenge_method text,
  resources text,
  dpop_jkt text,
  consumed_at integer,
  -- When the user authenticated (auth_time of RFC 9068); NULL: not known.
  auth_time integer,
  PRIMARY KEY (code_hash, client_id)
);

CREATE INDEX IF NOT EXISTS portcullis_grants_expires_at ON portcullis_grants (expires_at);

CREATE TABLE IF NOT EXISTS portcullis_tokens (
  token_hash text NOT NULL,
  kind text NOT NULL,
  client_id text NOT NULL,
  user_id text,
  scopes text NOT NULL,
  expires_at integer NOT NULL,
  grant_id text NOT NULL,
  audience text,
  resources text,
  dpop_jkt text,
  consumed_at integer,
  revoked_at integer,
  issued_at integer,
  -- A refresh token's auth_time (RFC 9068); NULL on access tokens and when not known.
  auth_time integer,
  PRIMARY KEY (token_hash, kind)
);

CREATE INDEX IF NOT EXISTS portcullis_tokens_grant_id ON portcullis_tokens (grant_id);

CREATE INDEX IF NOT EXISTS portcullis_tokens_expires_at ON portcullis_tokens (expires_at);

-- A user's tokens per client (listUserGrants, revokeUserGrants).
CREATE INDEX IF NOT EXISTS portcullis_tokens_user_client ON portcullis_tokens (user_id, client_id);

-- Device authorization requests (RFC 8628). active_user_code holds the user code while the
-- request is live (unique) and is cleared when it expires.
CREATE TABLE IF NOT EXISTS portcullis_device_codes (
  device_code text PRIMARY KEY NOT NULL,
  user_code text NOT NULL,
  active_user_code text UNIQUE,
  client_id text NOT NULL,
  scopes text NOT NULL,
  expires_at integer NOT NULL,
  poll_interval integer NOT NULL,
  last_polled_at integer,
  status text NOT NULL,
  user_id text,
  grant_id text NOT NULL,
  version integer NOT NULL DEFAULT 0,
  -- An approval's auth_time (RFC 9068); NULL: pending, denied, or not known.
  auth_time integer
);

CREATE INDEX IF NOT EXISTS portcullis_device_codes_expires_at ON portcullis_device_codes (expires_at);

-- Short-lived records of core's ephemeral store (pushed authorization requests, DPoP proof ids);
-- value keeps NUL and backslashes escaped by the store.
CREATE TABLE IF NOT EXISTS portcullis_ephemeral (
  record_key text PRIMARY KEY NOT NULL,
  value text NOT NULL,
  expires_at integer NOT NULL
);

CREATE INDEX IF NOT EXISTS portcullis_ephemeral_expires_at ON portcullis_ephemeral (expires_at);

-- Client tables made before dynamic client registration: migrate() adds each of these columns
-- the table lacks (nullable, no default: no row is rewritten, every row kept). By hand, run
-- those the table lacks:
--   ALTER TABLE portcullis_clients ADD COLUMN require_pushed_authorization_requests integer;
--   ALTER TABLE portcullis_clients ADD COLUMN dpop_bound_access_tokens integer;
--   ALTER TABLE portcullis_clients ADD COLUMN name text;
--   ALTER TABLE portcullis_clients ADD COLUMN uri text;
--   ALTER TABLE portcullis_clients ADD COLUMN logo_uri text;
--   ALTER TABLE portcullis_clients ADD COLUMN client_secret_expires_at integer;
--   ALTER TABLE portcullis_clients ADD COLUMN secret_never_expires integer;
--   ALTER TABLE portcullis_clients ADD COLUMN registration text;

-- Client tables made before the purge of never-used registrations (registered_at NULL: registered
-- before it, never purged): migrate() adds what the table lacks. By hand:
--   ALTER TABLE portcullis_clients ADD COLUMN registered_at integer;
--   ALTER TABLE portcullis_clients ADD COLUMN first_used_at integer;

-- Token tables made before issued_at (when core issued the token; NULL for older tokens):
-- migrate() adds the column when the table lacks it. By hand:
--   ALTER TABLE portcullis_tokens ADD COLUMN issued_at integer;

-- Code, token and device tables made before auth_time (when the user authenticated, RFC 9068;
-- NULL for older rows: their tokens carry no auth_time): migrate() adds the column to each table
-- that lacks it. By hand:
--   ALTER TABLE portcullis_grants ADD COLUMN auth_time integer;
--   ALTER TABLE portcullis_tokens ADD COLUMN auth_time integer;
--   ALTER TABLE portcullis_device_codes ADD COLUMN auth_time integer;
