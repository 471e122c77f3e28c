-- Issue 11: an analyst who releases a link held for many names on one device, and finds a household there (a family on
-- one tablet), may clear the device as that household for 30 days: a member's name first seen there afterwards does not
-- hold their link again, up to a household's size (features.ts HOUSEHOLD_MAX_NAMES); beyond it every uncleared name counts.
CREATE TABLE device_household_clearances (
  device_key text PRIMARY KEY,
  cleared_by text NOT NULL,
  link_request_id text NOT NULL REFERENCES link_requests (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
