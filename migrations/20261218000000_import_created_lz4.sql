-- An import lists the records each batch created as one array of ids (about 2,000 bigints,
-- 16 kB), which PostgreSQL compresses before storing it out of line. With the default pglz that
-- took about 1.5 ms an array, some 120 ms of server CPU an import of 100,000 deals (seen in a
-- profile of the import benchmark); lz4 does the same array in about a tenth of that and stores
-- it in about as much space (8 kB against 6.5 kB). Only newly written values use it.
ALTER TABLE import_created ALTER COLUMN record_ids SET COMPRESSION lz4;
