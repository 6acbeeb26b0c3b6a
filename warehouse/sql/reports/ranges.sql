-- Products against the 200-400 mg/day band the articles quote.
SELECT range_status, count(*) AS products
FROM magnesium_daily
GROUP BY range_status
ORDER BY array_position(['below', 'within', 'spans', 'above', 'unknown'], any_value(range_status))
