"""Layer 4: training. loop.py is the one loop (fit), handed everything, and batched prediction; objective.py what
differs between models (loss, decoding); run.py a run on disk (train_run: resume, reuse, commits) with its files in
run_files.py and the checkpoint format in checkpoint.py; experiments.py every run by id and its stored predictions;
executor.py Ray. Imports the layers below."""
