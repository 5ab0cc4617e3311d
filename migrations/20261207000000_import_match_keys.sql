-- Imports match each batch's rows against the database instead of holding the whole
-- workspace in memory (issue 11: resident memory stays bounded whatever the file's size).
-- Companies match by normalized domain, then by normalized name, and contacts by email, then
-- by normalized name: these functions give the database the importer's keys (`domain_key`
-- and `name_key` in src/engine/import/world.rs, which it sends), so that finding every
-- record a row of a batch could match is one index probe a key; the importer then compares
-- its own keys on what comes back.

-- Whitespace as Rust's `char::is_whitespace` has it (Unicode's White_Space: the no-break
-- spaces too, which `\s` leaves out), and lower case letter by letter as `lower` does it,
-- which the importer's keys follow.

-- Lower case, trimmed, every run of whitespace one space.
CREATE FUNCTION import_name_key(name TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN lower(btrim(regexp_replace(name,
        '[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+', ' ', 'g'), ' '));

-- A website's host, lower case: no scheme, user, path, query, fragment, port, trailing dots
-- or `www.`.
CREATE FUNCTION import_host(website TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN regexp_replace(
        rtrim(
            substring(
                regexp_replace(
                    regexp_replace(
                        lower(regexp_replace(website,
                            '^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$',
                            '', 'g')),
                        '^.*?://', ''),
                    '^.*@', ''),
                '^[^/?#:]*'),
            '.'),
        '^www\.', '');

-- The host when it is a domain (has a dot), else NULL.
CREATE FUNCTION import_domain(website TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN strpos(import_host(website), '.') > 0 THEN import_host(website) END;

CREATE INDEX companies_import_name ON companies (workspace_id, import_name_key(name));
CREATE INDEX companies_import_domain ON companies (workspace_id, import_domain(website))
    WHERE website IS NOT NULL;
CREATE INDEX contacts_import_name ON contacts (workspace_id, import_name_key(name));
