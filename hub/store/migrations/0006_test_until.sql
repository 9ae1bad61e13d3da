-- Test mode with an end (issue 14): when a site's or a button's test mode ends by itself (UTC
-- ISO-8601); NULL: it stays on until someone turns it off, or it is off.
ALTER TABLE sites ADD COLUMN test_until TEXT;
ALTER TABLE buttons ADD COLUMN test_until TEXT;
