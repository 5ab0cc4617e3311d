-- `/contact find` past 1,000 matches (a surname, a common word) walks the contacts in name
-- order until it has a page, testing each on its name, email, tags and company. With only the
-- name in the index, every contact walked was a heap visit (about 2.5 us): a surname's first
-- match can come thousands of names in (every earlier surname of the first first name), 13-19
-- ms of the search's 20 ms budget (issue 13). With the columns the test reads in the index the
-- walk reads the index only where the visibility map says a page is all-visible (contacts
-- are rarely updated, and autovacuum sets it after inserts): 2-3 ms for the same walk,
-- measured on 100,000 contacts (`benches/search.rs`). `id` is a key column so that names
-- alike come out in the page's order without a sort of the group. The prefix lookups use the
-- same leading keys as before. The cost: about 160 bytes a contact instead of 10.
DROP INDEX contacts_name;
CREATE INDEX contacts_name ON contacts (workspace_id, lower(name) text_pattern_ops, id)
    INCLUDE (owner_id, name, email, company_id, tags);
