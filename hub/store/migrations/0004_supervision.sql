-- Supervision (issue 5): how each button is watched, and since when it is online or offline.

-- NULL: the profile's default (a Shelly Button1 sleeps on battery; a canonical button is on mains).
ALTER TABLE buttons ADD COLUMN power TEXT CHECK (power IN ('mains', 'battery'));
-- Battery buttons: the period within which the button checks in (seconds); NULL: the profile's.
ALTER TABLE buttons ADD COLUMN checkin_s INTEGER CHECK (checkin_s > 0);
-- One registered button per vendor device.
CREATE UNIQUE INDEX buttons_native ON buttons(profile, native_id) WHERE native_id IS NOT NULL;

-- When `online` last changed (the button said so, or supervision declared it).
ALTER TABLE device_state ADD COLUMN online_since TEXT;

-- The test-press report: the latest test press of each button.
CREATE INDEX presses_test ON presses(button_id, received_at) WHERE test = 1;
