"""One trainer for every model family, checkpoints, and run logging."""
