"""Layer 5: the study's experiments. registry.py names every run the project makes (RunSpec by id) and
factorial_plan.py the factorial's; runner.py builds a spec's model and loaders, trains it (training/run.py) and stores
its test predictions; executor.py runs many at once on Ray; command.py is the `runs` command. Imports the layers
below."""
