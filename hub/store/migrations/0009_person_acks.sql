-- Each person acknowledges (issue 17): who acknowledged an alarm from their own phone link, in
-- order. JSON: [[person, UTC ISO-8601 time], ...]; '[]' for none.
ALTER TABLE alarms ADD COLUMN acks TEXT NOT NULL DEFAULT '[]';
