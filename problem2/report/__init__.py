"""Layer 6: REPORT.md and the README block, rendered only from the typed result files (document.py assembles the
sections of the other modules; markdown.py holds the table and number formats)."""
