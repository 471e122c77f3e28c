-- The device signal (SPEC §7, docs/device-signal.md): beside the client's own id, a hash of a few request attributes
-- (user agent, Accept-Language, the address's /24 or /48 network) as last seen on this device. Nullable: rows from
-- before it have none until the device signs in again. A hint for analysts, never a key: many people share one.
ALTER TABLE devices ADD COLUMN request_fingerprint text CHECK (request_fingerprint ~ '^rf1:[0-9a-f]{32}$');
