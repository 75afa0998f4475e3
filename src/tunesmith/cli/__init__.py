"""The ``tunesmith`` command line: flags and config files in, typed requests to the
application layer (:mod:`tunesmith.app`), results printed. Nothing below this package
sees argparse.

Every flag of ``train``, ``compose``, ``evaluate``, ``prepare``, ``render`` and
``benchmark boulanger`` is made from a field of a settings dataclass
(:mod:`tunesmith.cli.flags`), so its default and help are declared once. ``--config
FILE`` reads settings from YAML or JSON (flags win over it) and ``--print-config`` prints
the resolved settings in that form and stops.

A user mistake (:class:`TunesmithError`) prints ``tunesmith: error: <file>: <problem>`` on
one line and exits 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys

from tunesmith.errors import OptionError, TunesmithError


def build_parser() -> argparse.ArgumentParser:
    from tunesmith import __version__
    from tunesmith.cli import commands

    p = argparse.ArgumentParser(prog="tunesmith", description="Learn music from a corpus and "
                                "compose new music with neural sequence models.")
    p.add_argument("--version", action="version", version=f"tunesmith {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for command in commands.COMMANDS:
        command.add_to(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:  # said by the command's own parser (its usage), with the flag meant
        _unknown(args.command_parser, unknown)
    args.argv = argv  # recorded in a run's config.json as the command that made it
    command = args.command_spec
    try:
        return command.run(args)
    except OptionError as e:
        from tunesmith.cli.flags import say

        _err(f"tunesmith: error: {say(e, command.sections(args))}")
        return 2
    except TunesmithError as e:
        _err(f"tunesmith: error: {e}")
        return 2
    except KeyboardInterrupt:
        _err("tunesmith: interrupted")
        return 130
    except OSError as e:  # a folder that is a file, a full disk, no permission, ...
        where = f"{e.filename}: " if e.filename else ""
        _err(f"tunesmith: error: {where}{e.strerror or e}")
        return 2


def _unknown(parser: argparse.ArgumentParser, unknown: list[str]) -> None:
    """Exit with the command's usage and ``unrecognized arguments``, naming the flag a
    typo most likely meant (``--nmu``: did you mean --num?)."""
    import difflib

    flags = [f for action in parser._actions for f in action.option_strings]
    meant = next((m for u in unknown if u.startswith("-")
                  for m in difflib.get_close_matches(u.split("=")[0], flags, n=1)), None)
    parser.error(f"unrecognized arguments: {' '.join(unknown)}"
                 + (f" (did you mean {meant}?)" if meant else ""))


def _err(message: str) -> None:
    print(message, file=sys.stderr)
