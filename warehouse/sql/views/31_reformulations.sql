-- reformulations: one row per change of version of a label (labels with more than one history
-- period): the version before and after, when it changed (changed_at = valid_from of the new
-- period), and the magnesium content on both sides. mg_changed / forms_changed say whether the
-- magnesium dose or the list of forms differ (NULL-safe); a change can touch neither (another
-- ingredient, the name, the price...).
CREATE OR REPLACE VIEW reformulations AS
WITH h AS (
    SELECT *,
        lag(version_id)     OVER w AS before_version_id,
        lag(mg_per_serving) OVER w AS before_mg_per_serving,
        lag(mg_per_day_max) OVER w AS before_mg_per_day_max,
        lag(forms)          OVER w AS before_forms,
        lag(product_name)   OVER w AS before_product_name,
        lag(version_number) OVER w AS before_version_number
    FROM label_history
    WINDOW w AS (PARTITION BY source, source_id ORDER BY version_number)
)
SELECT
    source, source_id, brand, product_name,
    valid_from AS changed_at,
    before_version_number, version_number AS after_version_number,
    before_version_id, version_id AS after_version_id,
    before_mg_per_serving, mg_per_serving AS after_mg_per_serving,
    before_mg_per_day_max, mg_per_day_max AS after_mg_per_day_max,
    before_forms, forms AS after_forms,
    before_product_name,
    before_mg_per_serving IS DISTINCT FROM mg_per_serving
        OR before_mg_per_day_max IS DISTINCT FROM mg_per_day_max AS mg_changed,
    list_sort(coalesce(before_forms, []::VARCHAR[])) IS DISTINCT FROM list_sort(coalesce(forms, []::VARCHAR[])) AS forms_changed,
    is_current AS after_is_current
FROM h
WHERE before_version_id IS NOT NULL
ORDER BY source, source_id, changed_at
