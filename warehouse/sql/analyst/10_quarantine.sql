-- Quarantine summary
-- Rows that gave no number, by reason (meanings in docs/audit.md).
SELECT reason_code, rows, current_rows, labels, example_reason
FROM quarantine_summary;
