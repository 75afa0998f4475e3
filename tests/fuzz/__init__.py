"""The fuzz suite (issue 24): hostile and randomly damaged files, built here, pushed
through every command that reads a user's file, each case in a fresh process with a time
limit, a memory watch and a snapshot of the folder it ran in.

- :mod:`tests.fuzz.hostile`: the hostile files (truncated, bit-flipped, oversized MIDI
  headers, ``.mxl`` zip bombs, billion-laughs XML, deep JSON and YAML, evil pickles, the
  tiny ABC tunes that hung music21);
- :mod:`tests.fuzz.mutate`: Hypothesis strategies that damage a valid seed file;
- :mod:`tests.fuzz.cases`: what each command is given (a :class:`~tests.fuzz.runner.Case`
  per input), as fixed lists and as strategies;
- :mod:`tests.fuzz.runner`: runs a case and names its outcome (``ok``, ``refused``,
  ``unclear``, ``traceback``, ``hang``, ``blowup``, ``touched``).

The default run tries a few hundred cases; ``pytest -m slow tests/fuzz`` over 10,000.
``benchmarks/fuzz_counts.py`` counts the outcomes of as many as it is asked for.
"""
