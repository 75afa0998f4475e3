"""tunesmith: learn music from a corpus and compose new music with neural sequence models.

The public API is re-exported lazily; ``import tunesmith`` imports nothing heavy.
"""

__version__ = "0.1.0"
