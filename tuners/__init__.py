"""Hyperparameter search over gin parameters: keras-tuner and Ray Tune."""
