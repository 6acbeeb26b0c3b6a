-- Which brands' names overstate the magnesium
-- readme: yes
-- `name_claim_mismatch`: the "mg" in the product name is neither the elemental magnesium per
-- serving, per day nor per unit; the reason says whether the name is the compound mass. "Overstate":
-- the stated number is larger than the elemental amount per serving and per day. Current labels.
SELECT d.brand,
       count(*) AS labels,
       count_if(f.reason LIKE '%supports the compound reading%') AS name_is_compound_mass,
       count_if(f.reason LIKE '%neither%') AS no_reading_fits
FROM label_flags AS f
JOIN magnesium_daily AS d USING (source, source_id, version_id)
WHERE f.flag = 'name_claim_mismatch'
  AND try_cast(regexp_extract(f.reason, 'name states ([0-9.]+) mg', 1) AS DOUBLE)
      > greatest(d.mg_per_serving, d.mg_per_day_max)
GROUP BY d.brand
ORDER BY labels DESC, d.brand
LIMIT 10;
