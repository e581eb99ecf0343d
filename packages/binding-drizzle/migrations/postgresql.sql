-- @portcullis/binding-drizzle: the default tables on PostgreSQL. Safe to run again (IF NOT EXISTS).
-- Codes and tokens are stored as the SHA-256 hex of the value core hands the store.
CREATE TABLE IF NOT EXISTS portcullis_clients (
  id text PRIMARY KEY,
  secret_hash text,
  redirect_uris text NOT NULL,
  grant_types text NOT NULL,
  scopes text NOT NULL,
  default_scopes text,
  token_endpoint_auth_method text,
  resource_server boolean,
  resources text,
  -- Dynamic client registration (RFC 7591/7592): see the upgrade statements below.
  require_pushed_authorization_requests boolean,
  dpop_bound_access_tokens boolean,
  name text,
  uri text,
  logo_uri text,
  client_secret_expires_at timestamp(3) with time zone,
  secret_never_expires boolean,
  registration text,
  -- For the purge of never-used registrations: registration.issuedAt, and the first token's time.
  registered_at timestamp(3) with time zone,
  first_used_at timestamp(3) with time zone
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

-- Device authorization requests (RFC 8628). active_user_code holds the user code while the
-- request is live (unique) and is cleared when it expires.
CREATE TABLE IF NOT EXISTS portcullis_device_codes (
  device_code text PRIMARY KEY NOT NULL,
  user_code text NOT NULL,
  active_user_code text UNIQUE,
  client_id text NOT NULL,
  scopes text NOT NULL,
  expires_at timestamp(3) with time zone NOT NULL,
  poll_interval integer NOT NULL,
  last_polled_at timestamp(3) with time zone,
  status text NOT NULL,
  user_id text,
  grant_id text NOT NULL,
  version integer NOT NULL DEFAULT 0,
  -- An approval's auth_time (RFC 9068); NULL: pending, denied, or not known.
  auth_time timestamp(3) with time zone
);

CREATE INDEX IF NOT EXISTS portcullis_device_codes_expires_at ON portcullis_device_codes (expires_at);

-- Short-lived records of core's ephemeral store (pushed authorization requests, DPoP proof ids);
-- value keeps NUL (which text cannot hold) and backslashes escaped by the store.
CREATE TABLE IF NOT EXISTS portcullis_ephemeral (
  record_key text PRIMARY KEY NOT NULL,
  value text NOT NULL,
  expires_at timestamp(3) with time zone NOT NULL
);

CREATE INDEX IF NOT EXISTS portcullis_ephemeral_expires_at ON portcullis_ephemeral (expires_at);

-- Client tables made before dynamic client registration get its columns (nullable, no default:
-- no row is rewritten, every row kept).
ALTER TABLE portcullis_clients ADD COLUMN IF NOT EXISTS require_pushed_authorization_requests boolean;
ALTER TABLE portcullis_clients ADD COLUMN IF NOT EXISTS dpop_bound_access_tokens boolean;
ALTER TABLE portcullis_clients ADD COLUMN IF NOT EXISTS name text;
ALTER TABLE portcullis_clients ADD COLUMN IF NOT EXISTS uri text;
ALTER TABLE portcullis_clients ADD COLUMN IF NOT EXISTS logo_uri text;
ALTER TABLE portcullis_clients ADD COLUMN IF NOT EXISTS client_secret_expires_at timestamp(3) with time zone;
ALTER TABLE portcullis_clients ADD COLUMN IF NOT EXISTS secret_never_expires boolean;
ALTER TABLE portcullis_clients ADD COLUMN IF NOT EXISTS registration text;
-- Client tables made before the purge of never-used registrations (registered_at NULL: registered
-- before it, never purged).
ALTER TABLE portcullis_clients ADD COLUMN IF NOT EXISTS registered_at timestamp(3) with time zone;
ALTER TABLE portcullis_clients ADD COLUMN IF NOT EXISTS first_used_at timestamp(3) with time zone;

-- Token tables made before issued_at (when core issued the token; NULL for older tokens).
ALTER TABLE portcullis_tokens ADD COLUMN IF NOT EXISTS issued_at timestamp(3) with time zone;

-- Code, token and device tables made before auth_time (when the user authenticated, RFC 9068;
-- NULL for older rows: their tokens carry no auth_time).
ALTER TABLE portcullis_grants ADD COLUMN IF NOT EXISTS auth_time timestamp(3) with time zone;
ALTER TABLE portcullis_tokens ADD COLUMN IF NOT EXISTS auth_time timestamp(3) with time zone;
ALTER TABLE portcullis_device_codes ADD COLUMN IF NOT EXISTS auth_time timestamp(3) with time zone;
