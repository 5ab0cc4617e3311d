-- The records an import creates are listed one row per batch and table, their ids in an array,
-- instead of one `import_rows` row each. A created record has no image before, and the
-- transaction that wrote it is the batch's: everything a row of its own held. On the
-- 100,000-deal import benchmark the 160,000 rows (each a heap tuple, a key in the primary key
-- and a foreign-key check against `imports`) were about 1 s of PostgreSQL's 8 s.
-- `import_rows` keeps the records an import changed (with their image before), and a created
-- record that a later batch of the same import wrote again (its transaction moved on): a row
-- there overrides the record's entry here.
CREATE TABLE import_created (
    workspace_id  BIGINT NOT NULL,
    import_id     BIGINT NOT NULL,
    entity        TEXT NOT NULL CHECK (entity IN ('companies', 'contacts', 'deals', 'activities', 'products')),
    record_ids    BIGINT[] NOT NULL,
    after_xid     xid8 NOT NULL,
    FOREIGN KEY (workspace_id, import_id) REFERENCES imports (workspace_id, id) DEFERRABLE
);
CREATE INDEX import_created_import ON import_created (workspace_id, import_id, entity);

-- Every record an import listed, one row each, as `import_rows` alone used to hold them. The
-- undo reads this; conditions on the workspace, import and table reach both branches.
CREATE VIEW import_records AS
SELECT workspace_id, import_id, entity, record_id, before, after_xid, after_hash
FROM import_rows
UNION ALL
SELECT c.workspace_id, c.import_id, c.entity, r.id, NULL::jsonb, c.after_xid, NULL::text
FROM import_created c CROSS JOIN LATERAL unnest(c.record_ids) AS r (id)
WHERE NOT EXISTS (SELECT 1 FROM import_rows o
                  WHERE o.workspace_id = c.workspace_id AND o.import_id = c.import_id
                    AND o.entity = c.entity AND o.record_id = r.id);
