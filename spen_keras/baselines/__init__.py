"""Comparison systems of the paper's tables that are Keras models."""
