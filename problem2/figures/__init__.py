"""Layer 1: every figure the project draws (matplotlib, Agg), from arrays and typed results; imports only core.
style.py holds what every figure shares (colours, the skeleton, saving, the legibility check); overlays.py draws
images with keypoints over them; charts.py draws results."""
import matplotlib

matplotlib.use("Agg")  # before any pyplot import: figures are files, never windows
