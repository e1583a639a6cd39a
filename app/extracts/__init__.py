"""Data extract jobs: an org's audit log written to per-day files with a signed manifest."""
