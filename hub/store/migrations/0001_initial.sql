-- chuong store, schema 1. Times are UTC ISO-8601 text of fixed width ("2026-11-22T14:05:01.123Z"),
-- so text order is time order. Booleans are 0/1.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- The registry: the places buttons protect, and the buttons.
CREATE TABLE sites (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    address    TEXT NOT NULL DEFAULT '',
    phone      TEXT NOT NULL DEFAULT '',
    lat        REAL,
    lon        REAL,
    test_mode  INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE buttons (
    id         TEXT PRIMARY KEY,
    site_id    TEXT REFERENCES sites(id) ON DELETE SET NULL,
    label      TEXT NOT NULL DEFAULT '',
    profile    TEXT,
    native_id  TEXT,
    test_mode  INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX buttons_site ON buttons(site_id);

-- What the hub last heard from each button, registered or not.
CREATE TABLE device_state (
    button_id  TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL,
    last_seen  TEXT NOT NULL,
    online     INTEGER,            -- NULL: never said
    battery    INTEGER,
    rssi       INTEGER,
    fw         TEXT,
    last_event TEXT                -- id of the last event
);

-- The incidents the officer handles.
CREATE TABLE alarms (
    id              TEXT PRIMARY KEY,
    seq             INTEGER NOT NULL UNIQUE,
    state           TEXT NOT NULL CHECK (state IN ('active', 'acknowledged', 'resolved')),
    level           INTEGER NOT NULL DEFAULT 0,
    site_id         TEXT,
    site_name       TEXT,          -- the site as it was when the alarm was raised
    site_address    TEXT,
    site_phone      TEXT,
    devices         TEXT NOT NULL, -- JSON: [[button id, last event id], ...] in order of joining
    press_count     INTEGER NOT NULL,
    test            INTEGER NOT NULL DEFAULT 0,
    unregistered    INTEGER NOT NULL DEFAULT 0,
    raised_at       TEXT NOT NULL,
    last_press_at   TEXT NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    resolved_at     TEXT,
    resolved_by     TEXT,
    outcome         TEXT CHECK (outcome IN ('genuine', 'false_alarm', 'test', 'other')),
    note            TEXT,
    updated_at      TEXT NOT NULL
);
CREATE INDEX alarms_open ON alarms(state) WHERE state <> 'resolved';
CREATE INDEX alarms_raised ON alarms(raised_at);
CREATE INDEX alarms_site ON alarms(site_id, raised_at);

-- Every event a button sent, once: the unique key is what makes a redelivery a duplicate.
CREATE TABLE presses (
    id          INTEGER PRIMARY KEY,
    button_id   TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    alarm_id    TEXT,
    received_at TEXT NOT NULL,
    device_ts   TEXT,
    seq         INTEGER,
    battery     INTEGER,
    test        INTEGER NOT NULL DEFAULT 0,
    anomalies   TEXT,              -- JSON list of optional fields that were dropped
    UNIQUE (button_id, event_id)
);
CREATE INDEX presses_alarm ON presses(alarm_id);

-- Append-only record of every action, with time and actor.
CREATE TABLE audit (
    id         INTEGER PRIMARY KEY,
    ts         TEXT NOT NULL,
    actor      TEXT NOT NULL,      -- button:<id>, user:<name>, token:<name>, hub, cli
    action     TEXT NOT NULL,
    alarm_id   TEXT,
    button_id  TEXT,
    trouble_id INTEGER,
    detail     TEXT                -- JSON object
);
CREATE INDEX audit_alarm ON audit(alarm_id) WHERE alarm_id IS NOT NULL;
CREATE INDEX audit_trouble ON audit(trouble_id) WHERE trouble_id IS NOT NULL;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- Messages that did not fit the contract, with the reason. Bounded: the oldest are pruned.
CREATE TABLE rejected (
    id          INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    topic       TEXT NOT NULL,
    payload     BLOB NOT NULL,     -- the first bytes of the payload
    size        INTEGER NOT NULL,  -- its full size
    reason      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    button_id   TEXT
);

-- Faults that are not alarms: a button offline, the broker session lost, the store failing.
CREATE TABLE troubles (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,      -- button id, site id, or 'hub'
    site_id    TEXT,
    state      TEXT NOT NULL CHECK (state IN ('open', 'cleared')),
    raised_at  TEXT NOT NULL,
    cleared_at TEXT,
    detail     TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX troubles_one_open ON troubles(kind, subject) WHERE state = 'open';

-- API tokens: only the SHA-256 of each token is kept.
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('viewer', 'officer', 'admin')),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens(name) WHERE revoked_at IS NULL;
