-- Most contacts have no tags (an import's never do), yet each one gave the tags' GIN index
-- two entries (its workspace and an empty-array marker). Only tagged contacts are indexed
-- now; the search names the index's condition beside its tag test so that the planner can
-- use it. 50,000 imported contacts: 4.46 s against 4.85 s with every contact indexed
-- (one connection, a slow host; issue 11).
DROP INDEX IF EXISTS contacts_tags;
CREATE INDEX contacts_tags ON contacts USING gin (workspace_id, tags) WHERE tags <> '{}';
