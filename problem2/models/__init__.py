"""Layer 2: representations and networks. codec.py owns every coordinate convention and the Codec protocol (targets,
loss, decoding); networks.py the two specified models and their variants; heads/ the heatmap-free heads, each with
its codec. A model carries its codec (model.codec). Imports core."""
