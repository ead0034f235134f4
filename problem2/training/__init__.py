"""Layer 4: training. engine.py is the one loop (fit) and batched prediction; checkpoint.py the run's files and
their commit points; experiments.py every run by id and its stored predictions; executor.py Ray. Imports the
layers below."""
