-- Deal lookup by title (`LIKE 'prefix%'`) and deal suggestions (`LIKE '%text%'`) are both
-- served by deals_title_trgm: pg_trgm reads a pattern's anchored start as a word start, so a
-- prefix is as selective there as in the b-tree. The b-tree only cost every new deal one more
-- index entry: each `/deal new`, and an import's hundred thousand rows (issues 11 and 13).
DROP INDEX IF EXISTS deals_title;
