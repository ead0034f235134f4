"""Layer 0, the ground: names and paths (schema), the command-line kit and user errors (cli), files, devices and
locks (runtime), metrics, statistics, and the typed result files. Imports nothing else of the project."""
