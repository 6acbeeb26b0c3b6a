"""View definitions (re-created with CREATE OR REPLACE on every connect; not migrations)."""
