-- Running the post from the page (issue 14).

-- Test mode with an end: when a site's or a button's test mode ends by itself (UTC ISO-8601);
-- NULL: it stays on until someone turns it off, or it is off.
ALTER TABLE sites ADD COLUMN test_until TEXT;
ALTER TABLE buttons ADD COLUMN test_until TEXT;

-- The name the page shows for a user ("Nguyễn Văn An") instead of the user name; '' for none.
ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
