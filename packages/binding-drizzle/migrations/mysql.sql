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
  resources text
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
  consumed_at datetime(3),
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
  consumed_at datetime(3),
  revoked_at datetime(3),
  PRIMARY KEY (token_hash, kind),
  INDEX portcullis_tokens_grant_id (grant_id),
  INDEX portcullis_tokens_expires_at (expires_at)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
