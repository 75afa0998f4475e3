"""Hostile files, built here in code (nothing downloaded, nothing stored): each is what a
careless tool or a malicious user could hand tunesmith, and each is small to build.

- MIDI: truncated and bit-flipped copies of a valid file, headers that announce 65,535
  tracks or a 4 GB chunk, delta times that push a note ten thousand years away, 150,000
  notes at tick 0, a zero division, a RIFF wrapper that lies about its size;
- ABC: the 38-byte tune that hung music21 (``M:99999/1``), a 100 KB one-line tune, one
  absurdly long note (a 99,999,999-frame piano roll), chords and repeats stacked deep;
- MusicXML: billion-laughs entities, external entities (``/dev/zero``, a file beside it),
  a note a billion beats long, zero divisions, 100,000 nested elements;
- ``.mxl``: zip bombs (a member that unpacks to 2 GiB: honest headers, headers that lie,
  thousands of members), a container that points outside the archive;
- JSON and YAML: nesting 100,000 deep (brackets, and YAML's indentation), YAML anchors
  that expand a billion-fold, a Python tag, a 65 MB (sparse) file;
- pickles: ``.pt`` / ``.pkl`` / ``.ckpt`` files that create :data:`MARKER` when
  unpickled (plain, and inside a ``torch.save`` zip), and a pickle of plain lists whose
  shared references expand to 10^10 piano-roll frames.

Every builder returns bytes (or a :class:`Sparse` size); :func:`music_files`,
:func:`config_files` and :func:`corpus_files` list them by name (built once; read-only).
"""

from __future__ import annotations

import functools
import io
import pickle
import random
import struct
import zipfile
import zlib
from dataclasses import dataclass

from tests.music_files import (
    BOOK,
    TINY_HANG_ABC,
    many_tracks,
    mtrk,
    multi_track,
    musicxml,
    notes,
    one_line_abc,
    smf,
    with_tempo,
)

MARKER = "PWNED"  # what an evil pickle creates, relative to the folder a command runs in


@dataclass(frozen=True)
class Sparse:
    """A file of ``size`` zero bytes, made sparse (no disk used): for size caps."""

    size: int


# --- valid seeds (the mutations start from these) -------------------------------------------

def seed_midi() -> bytes:
    """Type 1, three tracks, tempo and meter changes (``tests.music_files.multi_track``)."""
    return multi_track()


def seed_abc() -> bytes:
    return BOOK.encode()


def seed_musicxml() -> bytes:
    return musicxml().encode()


def seed_mxl(xml: bytes | None = None, name: str = "score.musicxml") -> bytes:
    """A compressed MusicXML file: ``META-INF/container.xml`` naming the score."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("META-INF/container.xml", _container(name))
        z.writestr(name, seed_musicxml() if xml is None else xml)
    return out.getvalue()


def _container(path: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><container><rootfiles>'
            f'<rootfile full-path="{path}"/></rootfiles></container>')


# --- damage of any file ---------------------------------------------------------------------

def truncated(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


def bit_flipped(data: bytes, flips: int, seed: int) -> bytes:
    """``flips`` random bits flipped (positions from ``random.Random(seed)``)."""
    rng, out = random.Random(seed), bytearray(data)
    for _ in range(flips):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


# --- MIDI -----------------------------------------------------------------------------------

def midi_track_count(count: int = 0xFFFF) -> bytes:
    """A header that announces ``count`` tracks, and one real track."""
    data = bytearray(multi_track())
    data[10:12] = count.to_bytes(2, "big")
    return bytes(data)


def midi_chunk_length() -> bytes:
    """A track chunk that says it is 4 GB long (the file is 100 bytes)."""
    track = mtrk(notes(0, [60, 62, 64]))
    return smf(0, [track[:4] + b"\xff\xff\xff\xff" + track[8:]])


def midi_header_length() -> bytes:
    """An ``MThd`` chunk that says it is 4 GB long."""
    data = multi_track()
    return data[:4] + b"\xff\xff\xff\xff" + data[8:]


def midi_far_notes() -> bytes:
    """Notes after delta times of 0x0FFFFFFF ticks (the largest a MIDI file can say):
    the last ends ~20,000 years of beats away at 480 ticks per beat."""
    events, tick = [], 0
    for i in range(40):
        tick += 0x0FFFFFFF
        events += [(tick, bytes([0x90, 60 + i % 12, 80])), (tick + 480, bytes([0x80, 60, 0]))]
    return smf(0, [mtrk(events)])


def midi_endless_number() -> bytes:
    """A delta time whose continuation bit never ends (a variable-length number of 5,000
    bytes)."""
    body = b"\xff" * 5000 + b"\x00\x90\x3c\x50"
    return smf(0, [b"MTrk" + len(body).to_bytes(4, "big") + body])


def midi_huge_sysex() -> bytes:
    """A SysEx event that says it holds 256 MB."""
    body = b"\x00\xf0\xff\xff\xff\x7f" + b"\x01\x02"
    return smf(0, [b"MTrk" + len(body).to_bytes(4, "big") + body])


def midi_notes_at_zero(count: int = 150_000) -> bytes:
    """``count`` notes, all at tick 0 (rendered audio of 10^6 of them took 90 s)."""
    ons = b"".join(bytes([0, 0x90, 21 + i % 88, 80]) for i in range(count))
    offs = b"".join(bytes([0, 0x80, 21 + i % 88, 0]) for i in range(count))
    body = ons + b"\x83\x60" + offs[1:] + b"\x00\xff\x2f\x00"
    return smf(0, [b"MTrk" + len(body).to_bytes(4, "big") + body])


def midi_zero_division() -> bytes:
    return smf(0, [mtrk(notes(0, [60, 62, 64, 65]))], division=0)


def rmid_lying() -> bytes:
    """A RIFF ``RMID`` wrapper whose chunk sizes say 4 GB."""
    smf_data = multi_track()
    return (b"RIFF" + b"\xff\xff\xff\xff" + b"RMID" + b"junk" + b"\xff\xff\xff\x7f"
            + b"data" + len(smf_data).to_bytes(4, "little") + smf_data)


# --- ABC ------------------------------------------------------------------------------------

def abc_long_note() -> bytes:
    """One note 99,999,999 units long: a piano roll of 99,999,999 x 88 frames (9.7 GB)."""
    return b"X:1\nT:long\nM:4/4\nL:1/4\nK:C\nC99999999|\n"


def abc_stacked_chord(width: int = 20_000) -> bytes:
    return ("X:1\nM:4/4\nL:1/8\nK:C\n[" + "C" * width + "]|\n").encode()


def abc_nested_repeats(depth: int = 2_000) -> bytes:
    return ("X:1\nM:4/4\nL:1/8\nK:C\n" + "|:" * depth + "CDEF" + ":|" * depth + "\n").encode()


def abc_tuplets() -> bytes:
    return b"X:1\nM:4/4\nL:1/8\nK:C\n(9999:1:9999CDEF|(0CDE|(3:0:3CDE|\n"


# --- MusicXML -------------------------------------------------------------------------------

def _with_doctype(doctype: str, body_note: str = "") -> bytes:
    """The seed score with a DOCTYPE before its root and ``body_note`` in its title."""
    xml = musicxml().replace('<?xml version="1.0" encoding="UTF-8"?>\n', "")
    xml = xml.replace("<score-partwise version=\"3.1\">",
                      f"<score-partwise version=\"3.1\"><work><work-title>{body_note}"
                      "</work-title></work>", 1)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}\n{xml}'.encode()


def billion_laughs(levels: int = 10) -> bytes:
    """Entities of ten references each, ``levels`` deep: 10^levels "lol"s if expanded."""
    ents = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels)]
    return _with_doctype("<!DOCTYPE score-partwise [\n" + "\n".join(ents) + "\n]>",
                         f"&lol{levels - 1};")


def quadratic_blowup(size: int = 50_000, refs: int = 20_000) -> bytes:
    """One entity of ``size`` characters referenced ``refs`` times (1 GB if expanded)."""
    return _with_doctype(f'<!DOCTYPE score-partwise [<!ENTITY a "{"x" * size}">]>',
                         "&a;" * refs)


def external_entity(target: str) -> bytes:
    """A title that is the content of ``target`` (``/dev/zero``, a file beside it)."""
    return _with_doctype(f'<!DOCTYPE score-partwise [<!ENTITY x SYSTEM "{target}">]>', "&x;")


def parameter_entity(target: str) -> bytes:
    return _with_doctype(f'<!DOCTYPE score-partwise [<!ENTITY % p SYSTEM "{target}"> %p;]>')


def public_dtd() -> bytes:
    """The DOCTYPE real MusicXML files carry, naming a DTD on the web (never fetched)."""
    return _with_doctype('<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 3.1 '
                         'Partwise//EN" "http://www.musicxml.org/dtds/partwise.dtd">')


def xml_long_note() -> bytes:
    return musicxml("C").replace("<duration>1</duration>",
                                 "<duration>1000000000</duration>").encode()


def xml_divisions(value: str) -> bytes:
    return musicxml().replace("<divisions>1</divisions>",
                              f"<divisions>{value}</divisions>").encode()


def xml_deep(depth: int = 100_000) -> bytes:
    inner = "<a>" * depth + "</a>" * depth
    return musicxml().replace("<part-list>", f"<credit>{inner}</credit><part-list>").encode()


# --- .mxl: zip bombs and paths out of the archive -------------------------------------------

_MIB = 1 << 20


@functools.cache
def _zeros_deflated(mib: int) -> bytes:
    """A raw deflate stream of ``mib`` MiB of zeros, from one block repeated (each block
    ends with a full flush, so every block compresses the same): ~1 KB per MiB."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(_MIB)) + c.flush(zlib.Z_FULL_FLUSH)
    return block * mib + c.flush()


def _zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip from (name, raw deflate data, declared unpacked size, CRC) members, written
    by hand so that the declared sizes may lie and the data need never exist unpacked."""
    out, central = bytearray(), bytearray()
    for name, data, size, crc in members:
        raw = name.encode()
        offset = len(out)
        fields = struct.pack("<HHHHHIIIHH", 20, 0, 8, 0, 0x21, crc, len(data),
                             min(size, 0xFFFFFFFF), len(raw), 0)
        out += b"PK\x03\x04" + fields + raw + data
        central += (b"PK\x01\x02" + struct.pack("<H", 20) + fields
                    + struct.pack("<HHHII", 0, 0, 0, 0, offset) + raw)
    end = struct.pack("<HHHHIIH", 0, 0, len(members), len(members), len(central), len(out),
                      0)
    return bytes(out + central + b"PK\x05\x06" + end)


def _deflated(data: bytes) -> tuple[bytes, int, int]:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(), len(data), zlib.crc32(data)


def zip_bomb(mib: int = 2048, lie: bool = False) -> bytes:
    """An ``.mxl`` whose score unpacks to ``mib`` MiB of zeros (2 MB of zip for 2 GiB).
    ``lie``: its headers say the score is 1,000 bytes. The CRC is not computed: a reader
    that gets as far as checking it has unpacked the gigabytes already."""
    container = _deflated(_container("score.xml").encode())
    return _zip([("META-INF/container.xml", *container),
                 ("score.xml", _zeros_deflated(mib), 1000 if lie else mib * _MIB, 0)])


def zip_many_members(count: int = 5_000) -> bytes:
    """``count`` members that each unpack to 1 MiB (5 GiB in all)."""
    container = _deflated(_container("m0.xml").encode())
    block = _zeros_deflated(1)
    return _zip([("META-INF/container.xml", *container)]
                + [(f"m{i}.xml", block, _MIB, 0) for i in range(count)])


def mxl_outside(path: str) -> bytes:
    """A container whose score is ``path``: outside the archive (``../../etc/passwd``,
    an absolute path)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("META-INF/container.xml", _container(path))
    return out.getvalue()


# --- JSON and YAML --------------------------------------------------------------------------

def deep_json(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_json_objects(depth: int = 50_000) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def deep_yaml(depth: int = 3_000) -> bytes:
    """Maps nested by indentation alone (no brackets to count)."""
    return ("".join("  " * i + "a:\n" for i in range(depth)) + "  " * depth + "b: 1\n").encode()


def yaml_laughs(setting: str = "seed") -> bytes:
    """Anchors of ten aliases each, nine deep (10^9 strings if expanded), under a real
    setting's name."""
    lines = [f"{setting}: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    lines.insert(0, lines.pop())  # the widest first
    return ("\n".join(lines) + "\n").encode()


def yaml_python_tag() -> bytes:
    return f"seed: !!python/object/apply:os.system ['touch {MARKER}']\n".encode()


# --- pickles --------------------------------------------------------------------------------

class _Payload:
    """Unpickled, it opens :data:`MARKER` for writing (creating it): proof of code run."""

    def __reduce__(self):
        import builtins

        return builtins.open, (MARKER, "w")


class _Shell:
    def __reduce__(self):
        import os

        return os.system, (f"touch {MARKER}",)


def evil_pickle(shell: bool = False) -> bytes:
    """A pickle that runs code when loaded, dressed as a Boulanger corpus or a state
    dict (a dict with 'train' / 'valid' / 'test' and 'state_dict')."""
    payload = _Shell() if shell else _Payload()
    return pickle.dumps({"train": [[[60]]], "valid": [[[60]]], "test": payload,
                         "state_dict": payload}, protocol=2)


def evil_torch_file(shell: bool = False) -> bytes:
    """What ``torch.save`` writes (a zip holding ``archive/data.pkl``), with the evil
    pickle inside: ``torch.load(..., weights_only=False)`` would run it."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("archive/data.pkl", evil_pickle(shell))
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
    return out.getvalue()


def pickle_reference_bomb(width: int = 100_000) -> bytes:
    """Plain lists and ints only (what the Boulanger reader accepts), but each split holds
    ``width`` references to one sequence of ``width`` references to one frame: 400 KB
    that stand for 10^10 frames (880 GB of piano roll)."""
    frame = [60, 64, 67]
    seq = [frame] * width
    return pickle.dumps({"train": [seq] * width, "valid": [seq] * width,
                         "test": [seq] * width}, protocol=2)


def deep_pickle(depth: int = 200_000) -> bytes:
    """Lists nested ``depth`` deep (``depth`` EMPTY_LISTs, then as many APPENDs)."""
    return b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."


# --- the lists ----------------------------------------------------------------------------

@functools.cache
def music_files() -> dict[str, bytes]:
    """Hostile music files by name (the suffix says what they claim to be)."""
    midi, xml, mxl = seed_midi(), seed_musicxml(), seed_mxl()
    out = {
        "truncated-header.mid": midi[:10],
        "truncated-half.mid": truncated(midi, 0.5),
        "bit-flipped.mid": bit_flipped(midi, 8, seed=1),
        "track-count-65535.mid": midi_track_count(),
        "chunk-4gb.mid": midi_chunk_length(),
        "header-4gb.mid": midi_header_length(),
        "far-notes.mid": midi_far_notes(),
        "endless-number.mid": midi_endless_number(),
        "sysex-256mb.mid": midi_huge_sysex(),
        "notes-at-zero.mid": midi_notes_at_zero(),
        "tracks-10000.mid": many_tracks(10_000),
        "zero-division.mid": midi_zero_division(),
        "zero-tempo.mid": with_tempo(0),
        "rmid-lying.mid": rmid_lying(),
        "tiny-hang.abc": TINY_HANG_ABC.encode(),
        "one-line-100kb.abc": one_line_abc().encode(),
        "long-note.abc": abc_long_note(),
        "stacked-chord.abc": abc_stacked_chord(),
        "nested-repeats.abc": abc_nested_repeats(),
        "tuplets.abc": abc_tuplets(),
        "truncated.abc": truncated(seed_abc(), 0.6),
        "binary.abc": b"X:1\nK:C\n" + bytes(range(256)) * 4,
        "billion-laughs.musicxml": billion_laughs(),
        "quadratic-blowup.musicxml": quadratic_blowup(),
        "entity-dev-zero.musicxml": external_entity("/dev/zero"),
        "entity-file.musicxml": external_entity("file:secret.txt"),
        "parameter-entity.musicxml": parameter_entity("/dev/zero"),
        "public-dtd.musicxml": public_dtd(),
        "long-note.musicxml": xml_long_note(),
        "zero-divisions.musicxml": xml_divisions("0"),
        "negative-divisions.musicxml": xml_divisions("-4"),
        "deep.musicxml": xml_deep(),
        "truncated.musicxml": truncated(xml, 0.5),
        "zip-bomb.mxl": zip_bomb(),
        "zip-bomb-lying.mxl": zip_bomb(lie=True),
        "zip-many-members.mxl": zip_many_members(),
        "outside-relative.mxl": mxl_outside("../../secret.txt"),
        "outside-absolute.mxl": mxl_outside("/etc/hostname"),
        "truncated.mxl": truncated(mxl, 0.5),
        "bit-flipped.mxl": bit_flipped(mxl, 8, seed=2),
        "evil.pkl": evil_pickle(),
        "evil.pt": evil_torch_file(shell=True),
        "empty.mid": b"",
    }
    return out


@functools.cache
def config_files() -> dict[str, bytes | Sparse]:
    """Hostile ``--config`` files."""
    return {"deep-brackets.json": deep_json(), "deep-objects.json": deep_json_objects(),
            "deep-indent.yaml": deep_yaml(), "laughs.yaml": yaml_laughs(),
            "python-tag.yaml": yaml_python_tag(), "huge.yaml": Sparse(65 << 20),
            "binary.yaml": bytes(range(256)) * 4, "evil.pkl": evil_pickle()}


@functools.cache
def corpus_files() -> dict[str, bytes]:
    """Hostile piano-roll corpus files (the Boulanger format: JSON or pickle)."""
    return {"evil.pkl": evil_pickle(), "evil-shell.pickle": evil_pickle(shell=True),
            "reference-bomb.pkl": pickle_reference_bomb(), "deep.json": deep_json(),
            "deep.pkl": deep_pickle(),
            "truncated.pkl": pickle.dumps({"train": [[[60]]] * 100})[:-40]}
