-- Signed presses (devices/signing.py): a button's key, and the last counter accepted from it.

-- The HMAC key as hex, set by `chuong registry keys`; NULL: the button does not sign.
ALTER TABLE buttons ADD COLUMN sign_key TEXT CHECK (sign_key IS NULL OR length(sign_key) = 64);
-- The counter of the last signed event accepted from the button (a replay repeats one), and
-- which key it was accepted under: a new key (a reflashed button counts from 1 again) starts over.
ALTER TABLE device_state ADD COLUMN last_seq INTEGER;
ALTER TABLE device_state ADD COLUMN last_seq_key TEXT;
