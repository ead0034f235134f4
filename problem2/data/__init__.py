"""Layer 3: the data. keypoints.py reads the course's files into datasets whose targets a codec makes; generate.py
draws the synthetic stick figures; augment.py and perturb.py change images. Imports core, figures and models."""
