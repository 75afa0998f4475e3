"""Data pipeline: splits, and batch sources the trainer draws from."""
