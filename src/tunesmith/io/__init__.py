"""Readers and writers, one module per format. Readers return a Piece; writers take one.

Heavy libraries (music21, symusic, fluidsynth, matplotlib) are imported inside the
functions that need them, so ``import tunesmith`` stays fast.
"""
