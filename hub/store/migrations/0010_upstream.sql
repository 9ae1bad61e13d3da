-- Posts, districts and provinces (issue 16; docs/DISTRICT.md).

-- At a district: the post an alarm came from; NULL for the hub's own alarms.
ALTER TABLE alarms ADD COLUMN post_id TEXT;
ALTER TABLE alarms ADD COLUMN post_name TEXT;

-- At a post with [upstream]: every alarm change, written in the same transaction as the change,
-- kept until the district has acknowledged it. `change_seq` counts the changes of one alarm from
-- 1 without gaps (the district applies them in that order, each once).
CREATE TABLE upstream (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm_id   TEXT NOT NULL,
    change_seq INTEGER NOT NULL,
    change     TEXT NOT NULL,
    body       TEXT NOT NULL,      -- JSON: the alarm object after the change, actor, time
    queued_at  TEXT NOT NULL,
    acked_at   TEXT,
    UNIQUE (alarm_id, change_seq)
);
CREATE INDEX upstream_pending ON upstream(seq) WHERE acked_at IS NULL;

-- At a district: every change received from a post, once (the idempotency key is the unique one).
CREATE TABLE post_changes (
    id          INTEGER PRIMARY KEY,   -- the order in which the district applied them
    post_id     TEXT NOT NULL,
    alarm_id    TEXT NOT NULL,
    change_seq  INTEGER NOT NULL,
    change      TEXT NOT NULL,
    actor       TEXT,
    at          TEXT NOT NULL,     -- when it happened at the post
    received_at TEXT NOT NULL,     -- when the district committed it
    body        TEXT NOT NULL,
    UNIQUE (post_id, alarm_id, change_seq)
);
CREATE INDEX post_changes_alarm ON post_changes(alarm_id);

-- At a district: the posts it has heard from.
CREATE TABLE posts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    period_s   REAL NOT NULL,
    first_seen TEXT NOT NULL
);
