"""Stage 5, build: scan, the per-pair pipeline, splits, statistics, dataset card and publish."""
