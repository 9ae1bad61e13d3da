-- An admin disables a user without removing them (issue 14): a disabled user cannot log in and
-- has no session; re-enabling gives the account back as it was. NULL: enabled.
ALTER TABLE users ADD COLUMN disabled_at TEXT;

-- Who made an API token (`cli`, or `user:<name>` from the page), for the admin's list.
ALTER TABLE api_tokens ADD COLUMN created_by TEXT NOT NULL DEFAULT 'cli';
