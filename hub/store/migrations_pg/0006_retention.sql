-- As ../migrations/0006_retention.sql: the hub's pruner may delete audit entries older than the
-- cutoff it writes into meta ('audit_prunable_before') in the same transaction; nothing else may.

DROP TRIGGER audit_no_delete ON audit;
CREATE FUNCTION audit_delete_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.ts >= coalesce((SELECT value FROM meta WHERE key = 'audit_prunable_before'), '') THEN
        RAISE EXCEPTION 'the audit log is append-only'
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END;
$$;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_delete_guard();
