-- Issue 11, signals that fit the population: SMS code sends are limited per number, per wallet and per device tightly,
-- and per network address only at carrier-NAT size (thousands of customers share one address). The device a code was
-- asked from is recorded so the per-device limit can be counted; null when the client sent no device id.
ALTER TABLE one_time_codes ADD COLUMN device_key text;
CREATE INDEX one_time_codes_by_device ON one_time_codes (device_key, created_at) WHERE device_key IS NOT NULL;
