-- A re-import that moves deals already there adds a history row to each, as a typed move
-- does. Those rows are listed on the import (table `stage_changes`, with the batch's
-- transaction) so that its undo takes them out with the deals' earlier images; before, the
-- undo put a moved deal back in its stage and left the history saying it had moved on.
ALTER TABLE import_created DROP CONSTRAINT import_created_entity_check;
ALTER TABLE import_created ADD CONSTRAINT import_created_entity_check
    CHECK (entity IN ('companies', 'contacts', 'deals', 'activities', 'products', 'stage_changes'));
