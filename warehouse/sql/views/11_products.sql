-- products: one row per product (magnesium_daily.product_key), described by its current label:
-- the on-market label first (on_market NULL counts as on market: the source does not say), then
-- the latest entry_date, then the highest source_id. labels / labels_on_market count the product's
-- current label versions (DSLD keeps each label revision as its own id).
CREATE OR REPLACE VIEW products AS
WITH d AS (
    SELECT *,
        count(*) OVER p AS labels,
        count_if(coalesce(on_market, true)) OVER p AS labels_on_market,
        row_number() OVER (PARTITION BY product_key
                           ORDER BY coalesce(on_market, true) DESC, entry_date DESC NULLS LAST,
                                    source_id DESC) AS pick
    FROM magnesium_daily
    WINDOW p AS (PARTITION BY product_key)
)
SELECT
    product_key, brand, product_name,
    labels_on_market > 0 AS on_market,
    labels, labels_on_market,
    source AS current_source, source_id AS current_source_id, version_id AS current_version_id,
    entry_date, forms, mg_per_serving, mg_per_day_min, mg_per_day_max, range_status, above_ul, ul_status,
    dose_basis, dose_assumed, flags, price, currency, price_per_100mg_day, url, dosage_form
FROM d
WHERE pick = 1
ORDER BY product_key
