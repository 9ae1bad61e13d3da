-- Retention ([store.retention]): the audit log stays append-only, except that the hub's pruner may
-- delete entries older than the cutoff it writes into meta ('audit_prunable_before') in the same
-- transaction. Without that row (history kept for ever, the default) nothing can be deleted.
DROP TRIGGER audit_no_delete;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
WHEN OLD.ts >= coalesce((SELECT value FROM meta WHERE key = 'audit_prunable_before'), '')
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
