"""Layer 1: every figure the project draws (matplotlib), from arrays and typed results. Imports only core."""
