"""Stage 6, consumers of a built dataset: torch loader, verify, report, exports, smoke run."""
