"""Layer 5: the studies. Each scores runs (from stored predictions where it can), writes one typed result file in
RESULTS and its figures: evaluation, ablations and failures, diagnosis, robustness, learning curves, the gap's
seeds and variants (gap.py), the heads, benchmarks, and predict. No study writes Markdown."""
