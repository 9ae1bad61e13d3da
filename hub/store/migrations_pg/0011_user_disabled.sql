-- As ../migrations/0011_user_disabled.sql.

ALTER TABLE users ADD COLUMN disabled_at TEXT;
ALTER TABLE api_tokens ADD COLUMN created_by TEXT NOT NULL DEFAULT 'cli';
