-- Under `/settings visibility own` each rep keeps their own book: a rep may add a company or a
-- contact whose name or email another rep already holds, because refusing would tell them the
-- other rep's record exists. So the database keeps names and emails unique per owner, and the
-- engine refuses a duplicate among the records the caller can see (the whole workspace for
-- everyone under "all", and for managers), under an advisory lock per name so two concurrent
-- adds cannot both pass the check.
DROP INDEX companies_name;
CREATE UNIQUE INDEX companies_owner_name ON companies (workspace_id, owner_id, lower(name));
CREATE INDEX companies_name ON companies (workspace_id, lower(name) text_pattern_ops);

DROP INDEX contacts_email;
CREATE UNIQUE INDEX contacts_owner_email ON contacts (workspace_id, owner_id, lower(email)) WHERE email IS NOT NULL;
CREATE INDEX contacts_email ON contacts (workspace_id, lower(email)) WHERE email IS NOT NULL;
