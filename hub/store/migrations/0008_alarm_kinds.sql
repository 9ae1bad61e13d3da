-- Alarm kinds (issue 17): what an alarm is about (hub.domain.model.AlarmKind).

-- The kind of each alarm; the alarms raised before this migration were all hold-ups.
ALTER TABLE alarms ADD COLUMN kind TEXT NOT NULL DEFAULT 'holdup';

-- The kind a button's presses raise, and the press patterns that raise another kind
-- (JSON object, event type -> kind, e.g. {"long_press": "fire"}; NULL: none of its own, the
-- profile's patterns apply).
ALTER TABLE buttons ADD COLUMN kind TEXT NOT NULL DEFAULT 'holdup';
ALTER TABLE buttons ADD COLUMN press_patterns TEXT;
