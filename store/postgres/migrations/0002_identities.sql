-- Users linked to an OpenID Connect provider: the provider's issuer and the
-- person's subject there, both '' for a local user. A linked pair is unique
-- (store.Users: one identity reaches one user); compared exactly, bytewise.
ALTER TABLE users ADD COLUMN issuer text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN subject text COLLATE "C" NOT NULL DEFAULT '';
CREATE UNIQUE INDEX users_identity ON users (issuer, subject) WHERE issuer <> '' OR subject <> '';
