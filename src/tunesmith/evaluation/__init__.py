"""Likelihood evaluation and musical metrics."""
