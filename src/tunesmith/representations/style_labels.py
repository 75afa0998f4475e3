"""Style labels a phrase model is conditioned on: what the representations of the
``continue`` families share (``abc_phrases``, ``event_phrases``, ``remi_phrases``).

``styles`` maps each label set to its labels, ``{"tradition": ("any", "irish", ...)}``;
label 0 of each set, ``any``, means "no label given" (the model is trained with labels
hidden now and then, so it can continue a phrase without one).
"""

from __future__ import annotations

from tunesmith.errors import OptionError

ANY = "any"  # label 0 of every set: no label given


class StyleLabelled:
    """``style_sizes``, ``style_ids(**labels)`` and ``parse_style(text)`` over a
    dataclass's ``styles`` field."""

    styles: dict

    @property
    def style_sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.styles.items()}

    def style_ids(self, **labels: str) -> list[int]:
        """One id per label set; a set not given, or a label the model never saw, is
        ``any`` (0)."""
        out = []
        for k, names in self.styles.items():
            label = labels.get(k) or ANY
            out.append(names.index(label) if label in names else 0)
        return out

    def parse_style(self, style: str) -> dict[str, str]:
        """``--style`` as labels: ``reel`` (a label of any set), ``irish,reel`` (one of
        each, in any order), or "" (none). An unknown label is an OptionError that lists
        the known ones."""
        out: dict[str, str] = {}
        for part in (p.strip().lower() for p in style.split(",") if p.strip()):
            sets = [k for k, names in self.styles.items() if part in names[1:]]
            if not sets:
                many = len(self.styles) > 1  # a set's name only where there are several
                known = "; ".join((f"{k.replace('_', ' ')}: " if many else "")
                                  + ", ".join(names[1:]) for k, names in self.styles.items())
                raise OptionError("style", f"{part[:40]!r} is not a style this model knows "
                                  f"({known or 'none: it was trained without styles'})")
            if sets[0] in out:
                other = " and one of the other set" if len(self.styles) > 1 else ""
                raise OptionError("style", f"gives two labels of one set ({out[sets[0]]!r} "
                                  f"and {part!r}): give at most one "
                                  f"{sets[0].replace('_', ' ')}{other}")
            out[sets[0]] = part
        return out


def check_styles(styles, what: str) -> dict[str, tuple[str, ...]]:
    """A saved ``styles`` checked (ValueError naming ``what``) and made tuples."""
    if not isinstance(styles, dict) or not all(
            isinstance(v, list) and v and v[0] == ANY and all(isinstance(x, str) for x in v)
            for v in styles.values()):
        raise ValueError(f"{what} representation: styles must map a set to its labels, "
                         f"{ANY!r} first")
    return {k: tuple(v) for k, v in styles.items()}
