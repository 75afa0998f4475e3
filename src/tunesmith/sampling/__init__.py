"""Sampling: pure logit filters and the shared autoregressive decoder."""
