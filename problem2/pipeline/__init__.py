"""Layer 7: the stages of `python -m problem2 all` (provenance.py declares them and records what each read and
wrote; plan.py estimates, shows progress and reuses; verify.py checks a results directory). Only the command line
(problem2/__main__.py) and the assignment's front-door modules stand above it."""
