-- Search (issue 13): `/contact find` matches anywhere in a name, email or company name, and
-- deal suggestions match anywhere in a title. A b-tree serves only prefixes, so these were
-- scans of the whole workspace; trigram indexes (pg_trgm) serve `LIKE '%text%'`, keyed by
-- workspace first (btree_gin) like every other index here. Both extensions are trusted: the
-- database's owner may create them without being a superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- GIN's default fastupdate: new entries queue in a pending list that is merged in bulk (by
-- autovacuum, or when it fills), which keeps an import's hundred thousand inserts cheap.
CREATE INDEX contacts_name_trgm ON contacts USING gin (workspace_id, lower(name) gin_trgm_ops);
CREATE INDEX contacts_email_trgm ON contacts USING gin (workspace_id, lower(email) gin_trgm_ops);
CREATE INDEX contacts_tags ON contacts USING gin (workspace_id, tags);
CREATE INDEX companies_name_trgm ON companies USING gin (workspace_id, lower(name) gin_trgm_ops);
CREATE INDEX deals_title_trgm ON deals USING gin (workspace_id, lower(title) gin_trgm_ops);
-- A company's contacts (the search's company branch, and the company card).
CREATE INDEX contacts_company ON contacts (workspace_id, company_id);

-- Statistics for the new expressions, so the planner knows how selective a search is from the
-- first query rather than after autovacuum's next analyze.
ANALYZE contacts;
ANALYZE companies;
ANALYZE deals;
