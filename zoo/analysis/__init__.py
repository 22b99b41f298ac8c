"""Looking inside models and runs: the layer table (``summary``), how networks grow with their
input (``scaling``), filters and feature maps (``show``), the per-class evaluation
(``evaluation``), the diagnosis of a run's curves (``diagnose``) and word embeddings
(``embeddings``). Importing this package is cheap: each module imports TensorFlow only when
it computes.
"""
