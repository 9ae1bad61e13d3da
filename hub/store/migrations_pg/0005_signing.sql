-- As ../migrations/0005_signing.sql.

ALTER TABLE buttons ADD COLUMN sign_key TEXT CHECK (sign_key IS NULL OR length(sign_key) = 64);
ALTER TABLE device_state ADD COLUMN last_seq BIGINT;
ALTER TABLE device_state ADD COLUMN last_seq_key TEXT;
