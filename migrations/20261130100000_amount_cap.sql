-- The amount cap (MAX_MINOR in src/domain/money/mod.rs, 5 × 10^11 minor units) held by the
-- database too, so that no write path (a command that forgot, an import, a bulk load, a
-- hand-written fix) can store an amount that breaks the bound every report relies on:
-- 10 million deals at the cap sum to 5 × 10^18 minor units, below bigint's 9.22 × 10^18.
-- The application checks first and answers with a clear error; these constraints are the
-- backstop, and the store maps their violation (SQLSTATE 23514, names ending in `_cap`) to the
-- same out-of-range error as an overflowing total (22003).
--
-- NOT VALID: rows written before the cap existed are not re-checked here (a failed migration
-- would stop the bot); every new or changed row is.
ALTER TABLE deals ADD CONSTRAINT deals_amount_cap
    CHECK (amount_minor <= 500000000000) NOT VALID;
ALTER TABLE products ADD CONSTRAINT products_list_price_cap
    CHECK (list_price_minor <= 500000000000) NOT VALID;
ALTER TABLE members ADD CONSTRAINT members_quota_cap
    CHECK (quota_minor <= 500000000000) NOT VALID;
-- A line's value at its price and at list price are amounts too (the products report adds
-- the list values up for its discount); numeric so the check itself cannot overflow.
ALTER TABLE deal_products ADD CONSTRAINT deal_products_value_cap
    CHECK (quantity::numeric * unit_price_minor <= 500000000000
           AND quantity::numeric * list_price_minor <= 500000000000) NOT VALID;
