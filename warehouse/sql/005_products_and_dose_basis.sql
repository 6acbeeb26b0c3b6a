-- 005: products and the basis of each daily dose (issue 10).
--
-- labels.product_key groups the label versions (DSLD ids, retailer pages) of one product:
--   'dsld:<lowest related DSLD id>' from DSLD labelRelationships ("... same product"), else
--   'upc:<brand>|<UPC digits>', else 'name:<brand>|<normalised product name>' (normalize/product_key.py).
-- labels.on_market: the source's own marker (DSLD offMarket); NULL when the source does not say.
-- magnesium_labels.units_min / units_max: serving units per serving as the label allows them
--   ("1-4 capsules" -> 1, 4); dose_basis: where mg_per_day_min/max come from (normalize.flags.DoseBasis).
-- All optional in the batch (NULL when a frame lacks them); columns are appended, none changed.
ALTER TABLE labels ADD COLUMN product_key VARCHAR;
ALTER TABLE labels ADD COLUMN on_market BOOLEAN;
ALTER TABLE magnesium_labels ADD COLUMN units_min DOUBLE;
ALTER TABLE magnesium_labels ADD COLUMN units_max DOUBLE;
ALTER TABLE magnesium_labels ADD COLUMN dose_basis VARCHAR;
