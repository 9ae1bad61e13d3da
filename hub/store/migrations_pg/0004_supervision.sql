-- As ../migrations/0004_supervision.sql.

ALTER TABLE buttons ADD COLUMN power TEXT CHECK (power IN ('mains', 'battery'));
ALTER TABLE buttons ADD COLUMN checkin_s INTEGER CHECK (checkin_s > 0);
CREATE UNIQUE INDEX buttons_native ON buttons(profile, native_id) WHERE native_id IS NOT NULL;
ALTER TABLE device_state ADD COLUMN online_since TEXT;
CREATE INDEX presses_test ON presses(button_id, received_at) WHERE test = 1;
