-- Which glycinate products are buffered
-- readme: yes
-- "Magnesium glycinate" products often contain magnesium oxide ("buffered"). `buffered_blend` is
-- raised when glycinate is listed with oxide, a source is called buffered, or the label declares more
-- magnesium than the declared glycinate mass can hold (> 14.1 %); the reason is in `label_flags`.
SELECT count(*)                                                      AS glycinate_products,
       count(*) FILTER (WHERE list_contains(flags, 'buffered_blend')) AS flagged_buffered,
       count(*) FILTER (WHERE list_contains(forms, 'magnesium oxide')) AS oxide_listed_too
FROM products
WHERE on_market AND list_contains(forms, 'magnesium glycinate');
