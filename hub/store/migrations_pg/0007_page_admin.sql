-- As ../migrations/0007_page_admin.sql.

ALTER TABLE sites ADD COLUMN test_until TEXT;
ALTER TABLE buttons ADD COLUMN test_until TEXT;
ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
