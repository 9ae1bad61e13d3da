-- As ../migrations/0008_alarm_kinds.sql: what an alarm is about, and what a button's presses raise.

ALTER TABLE alarms ADD COLUMN kind TEXT NOT NULL DEFAULT 'holdup';
ALTER TABLE buttons ADD COLUMN kind TEXT NOT NULL DEFAULT 'holdup';
ALTER TABLE buttons ADD COLUMN press_patterns TEXT;
