-- @portcullis/binding-drizzle: the default tables on MySQL 8 and MariaDB 10.5+. Safe to run again
-- (IF NOT EXISTS; indexes are declared inside CREATE TABLE, which both servers accept).
-- Ids compare exactly (utf8mb4_bin): 'A' and 'a', 'x' and 'x ' are different clients.
CREATE TABLE IF NOT EXISTS portcullis_clients (
  id varchar(255) NOT NULL PRIMARY KEY,
  secret_hash text,
  redirect_uris text NOT NULL,
  grant_types text NOT NULL,
  scopes text NOT NULL,
  default_scopes text,
  token_endpoint_auth_method varchar(32),
  resource_server boolean,
  resources text,
  -- Dynamic client registration (RFC 7591/7592): see the upgrade statements below.
  require_pushed_authorization_requests boolean,
  dpop_bound_access_tokens boolean,
  name text,
  uri text,
  logo_uri text,
  client_secret_expires_at datetime(3),
  secret_never_expires boolean,
  registration text,
  -- For the purge of never-used registrations: registration.issuedAt, and the first token's time.
  registered_at datetime(3),
  first_used_at datetime(3)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS portcullis_users (
  id varchar(255) NOT NULL PRIMARY KEY,
  username varchar(255) NOT NULL UNIQUE,
  password_hash text NOT NULL
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS portcullis_grants (
  code_hash char(64) NOT NULL,
  client_id varchar(255) NOT NULL,
  user_id varchar(255) NOT NULL,
  redirect_uri text,
  scopes text NOT NULL,
  expires_at datetime(3) NOT NULL,
  grant_id varchar(255) NOT NULL,
  code_challenge varchar(255),
  code_challenge_method varchar(16),
  resources text,
  dpop_jkt varchar(255),
  consumed_at datetime(3),
  -- When the user authenticated (auth_time of RFC 9068); NULL: not known.
  auth_time datetime(3),
  PRIMARY KEY (code_hash, client_id),
  INDEX portcullis_grants_expires_at (expires_at)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS portcullis_tokens (
  token_hash char(64) NOT NULL,
  kind varchar(8) NOT NULL,
  client_id varchar(255) NOT NULL,
  user_id varchar(255),
  scopes text NOT NULL,
  expires_at datetime(3) NOT NULL,
  grant_id varchar(255) NOT NULL,
  audience text,
  resources text,
  dpop_jkt varchar(255),
  consumed_at datetime(3),
  revoked_at datetime(3),
  issued_at datetime(3),
  -- A refresh token's auth_time (RFC 9068); NULL on access tokens and when not known.
  auth_time datetime(3),
  PRIMARY KEY (token_hash, kind),
  INDEX portcullis_tokens_grant_id (grant_id),
  INDEX portcullis_tokens_expires_at (expires_at),
  INDEX portcullis_tokens_user_client (user_id, client_id)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Device authorization requests (RFC 8628). active_user_code holds the user code while the
-- request is live (unique) and is cleared when it expires.
CREATE TABLE IF NOT EXISTS portcullis_device_codes (
  device_code varchar(255) NOT NULL PRIMARY KEY,
  user_code varchar(64) NOT NULL,
  active_user_code varchar(64) UNIQUE,
  client_id varchar(255) NOT NULL,
  scopes text NOT NULL,
  expires_at datetime(3) NOT NULL,
  poll_interval int NOT NULL,
  last_polled_at datetime(3),
  status varchar(16) NOT NULL,
  user_id varchar(255),
  grant_id varchar(255) NOT NULL,
  version int NOT NULL DEFAULT 0,
  -- An approval's auth_time (RFC 9068); NULL: pending, denied, or not known.
  auth_time datetime(3),
  INDEX portcullis_device_codes_expires_at (expires_at)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Short-lived records of core's ephemeral store (pushed authorization requests, DPoP proof ids).
-- value holds up to 64 KiB of any text (MEDIUMTEXT), NUL and backslashes escaped by the store.
CREATE TABLE IF NOT EXISTS portcullis_ephemeral (
  record_key varchar(255) NOT NULL PRIMARY KEY,
  value mediumtext NOT NULL,
  expires_at datetime(3) NOT NULL,
  INDEX portcullis_ephemeral_expires_at (expires_at)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Client tables made before dynamic client registration: migrate() adds each of these columns
-- the table lacks (nullable, no default: no row is rewritten, every row kept). By hand, run
-- those the table lacks:
--   ALTER TABLE portcullis_clients ADD COLUMN require_pushed_authorization_requests boolean;
--   ALTER TABLE portcullis_clients ADD COLUMN dpop_bound_access_tokens boolean;
--   ALTER TABLE portcullis_clients ADD COLUMN name text;
--   ALTER TABLE portcullis_clients ADD COLUMN uri text;
--   ALTER TABLE portcullis_clients ADD COLUMN logo_uri text;
--   ALTER TABLE portcullis_clients ADD COLUMN client_secret_expires_at datetime(3);
--   ALTER TABLE portcullis_clients ADD COLUMN secret_never_expires boolean;
--   ALTER TABLE portcullis_clients ADD COLUMN registration text;

-- Client tables made before the purge of never-used registrations (registered_at NULL: registered
-- before it, never purged): migrate() adds what the table lacks. By hand:
--   ALTER TABLE portcullis_clients ADD COLUMN registered_at datetime(3);
--   ALTER TABLE portcullis_clients ADD COLUMN first_used_at datetime(3);

-- Token tables made before issued_at (when core issued the token; NULL for older tokens) and the
-- index on a user's tokens per client: migrate() adds what the table lacks. By hand:
--   ALTER TABLE portcullis_tokens ADD COLUMN issued_at datetime(3);
--   CREATE INDEX portcullis_tokens_user_client ON portcullis_tokens (user_id, client_id);

-- Code, token and device tables made before auth_time (when the user authenticated, RFC 9068;
-- NULL for older rows: their tokens carry no auth_time): migrate() adds the column to each table
-- that lacks it. By hand:
--   ALTER TABLE portcullis_grants ADD COLUMN auth_time datetime(3);
--   ALTER TABLE portcullis_tokens ADD COLUMN auth_time datetime(3);
--   ALTER TABLE portcullis_device_codes ADD COLUMN auth_time datetime(3);
