-- As ../migrations/0009_person_acks.sql: who acknowledged an alarm from their own phone link.

ALTER TABLE alarms ADD COLUMN acks TEXT NOT NULL DEFAULT '[]';
