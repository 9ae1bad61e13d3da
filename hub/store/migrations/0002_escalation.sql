-- Escalation and notifications: stored deadlines and a durable outbox (guarantee 4, docs/CONTRACT.md).

-- One row per escalating alarm or trouble: the policy it follows, how many rounds of each step
-- have fired, and when the next one is due. Written in the same transaction as the alarm's raise,
-- so a crash can never leave an alarm without its deadline.
CREATE TABLE escalations (
    subject     TEXT PRIMARY KEY,  -- 'alarm:<alarm id>' or 'trouble:<trouble id>'
    alarm_id    TEXT,
    trouble_id  INTEGER,
    site_id     TEXT,              -- a trouble's site, to hold its notices while the site alarms
    policy      TEXT NOT NULL,     -- policy name ('default', 'troubles' or [escalation.policies])
    started_at  TEXT NOT NULL,     -- the raise: every step's after_s counts from here
    progress    TEXT NOT NULL,     -- JSON object: {"<step number>": rounds fired}
    next_due_at TEXT,              -- NULL once nothing more can fire
    state       TEXT NOT NULL CHECK (state IN ('running', 'finished', 'stopped')),
    updated_at  TEXT NOT NULL
);
CREATE INDEX escalations_due ON escalations(next_due_at) WHERE next_due_at IS NOT NULL;

-- Every notification, written before it is sent, then retried until delivered or given up.
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,  -- delivery id: <subject>/<step>.<round>/<notifier>
    notifier        TEXT NOT NULL,
    event           TEXT NOT NULL CHECK (event IN ('alarm', 'clear', 'trouble')),
    alarm_id        TEXT,
    trouble_id      INTEGER,
    body            TEXT NOT NULL,         -- JSON: what to say (the alarm object, step, round)
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled')),
    created_at      TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    finished_at     TEXT
);
CREATE INDEX outbox_pending ON outbox(notifier, next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_alarm ON outbox(alarm_id) WHERE alarm_id IS NOT NULL;
CREATE INDEX outbox_trouble ON outbox(trouble_id) WHERE trouble_id IS NOT NULL;
