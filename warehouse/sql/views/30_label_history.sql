-- label_history: every period of every label version (label_versions), newest last, with the
-- content that matters for magnesium. version_number counts periods per label (1 = first seen);
-- a version that came back after a change appears again with a higher version_number.
CREATE OR REPLACE VIEW label_history AS
SELECT
    lv.source, lv.source_id, lv.version_id,
    row_number() OVER (PARTITION BY lv.source, lv.source_id ORDER BY lv.valid_from, lv.version_id) AS version_number,
    lv.valid_from, lv.valid_to,
    lv.valid_to IS NULL AS is_current,
    lv.first_run_id, lv.last_seen_run_id,
    l.brand, l.product_name, l.entry_date, l.dosage_form, l.raw_sha256, l.url,
    m.forms, m.mg_per_serving, m.mg_per_day_min, m.mg_per_day_max, m.flags
FROM label_versions AS lv
LEFT JOIN labels AS l USING (source, source_id, version_id)
LEFT JOIN magnesium_labels AS m USING (source, source_id, version_id)
ORDER BY lv.source, lv.source_id, lv.valid_from, lv.version_id
