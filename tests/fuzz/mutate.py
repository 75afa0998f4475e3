"""Hypothesis strategies that damage a valid seed file, as real damage and real fuzzers
do: flip bits, overwrite bytes with the values parsers trip on (0, 0x7F, 0x80, 0xFF, a
4-byte length near 2^32), cut, repeat or drop a span, splice in a token of the format
(``M:``, ``|:``, ``<duration>``, ``MTrk``, a huge number), or truncate. Each draw is a
few such edits, so most inputs stay close enough to the format to get past its first
checks. Hypothesis shrinks a failing input to a small edit of the seed.
"""

from __future__ import annotations

from hypothesis import strategies as st

INTERESTING = [b"\x00", b"\x7f", b"\x80", b"\xff", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff",
               b"\x00\x00\x00\x00", b"\x0f\xff\xff\xff", b"\x80\x00\x00\x00"]

TOKENS = {
    "midi": [b"MThd", b"MTrk", b"\xff\x2f\x00", b"\xff\x51\x03\x00\x00\x01",
             b"\xff\x51\x03\xff\xff\xff", b"\xff\x58\x04\xff\xff\xff\xff", b"\xf0\xff\xff\x7f",
             b"\x90\x3c\x7f", b"\x80\x3c\x00", b"\x8f\xff\xff\x7f", b"\xc9\x7f", b"\xb0\x79\x00",
             b"\xff\x03\xff\xff\xff\x7f", b"\xe0\x7f\x7f"],
    "abc": [b"X:", b"M:", b"L:", b"K:", b"Q:", b"P:", b"V:", b"\nM:99999/1\n", b"\nL:1/99999\n",
            b"\nL:0/0\n", b"\nM:0/0\n", b"|:", b":|", b"::", b"|1", b"[2", b"[", b"]", b"(",
            b"(3", b"(9999", b"{", b"}", b"!", b'"', b"%", b"/", b"//////", b"99999999",
            b"-", b"~", b"^^", b"__", b"=", b">", b"<", b"\\\n", b"\nK:none\n", b"\nX:2\n",
            b"z99999", b"x", b"&", b"\nQ:1/4=0\n", b"\nQ:1/4=99999999\n", b"\nV:1\n"],
    "musicxml": [b"<note>", b"</note>", b"<measure>", b"</measure>", b"<chord/>",
                 b"<duration>999999999</duration>", b"<duration>-1</duration>",
                 b"<duration>0</duration>", b"<divisions>0</divisions>", b"<octave>99</octave>",
                 b"<alter>99</alter>", b"<backup><duration>99999</duration></backup>",
                 b"<forward><duration>99999</duration></forward>", b"<tie type=\"start\"/>",
                 b"<repeat direction=\"backward\"/>", b"<ending number=\"1\" type=\"start\"/>",
                 b"<sound tempo=\"0\"/>", b"<sound tempo=\"1e9\"/>", b"<time><beats>0</beats>",
                 b"<beat-type>0</beat-type>", b"<!DOCTYPE x [<!ENTITY a \"b\">]>", b"&a;",
                 b"<![CDATA[", b"]]>", b"&#0;", b"<part id=\"P1\">", b"</part>", b"99999999"],
    "json": [b"{", b"}", b"[", b"]", b":", b",", b'"', b"null", b"true", b"NaN", b"Infinity",
             b"-1", b"1e999", b"99999999999999999999", b'"<unk>"', b'"<pad>"', b"[[[[[[[[",
             b'"format_version"', b'"vocab"', b'"model_config"', b'"family"', b'"char_rnn"',
             b'"events"', b'"pianoroll"', b"\\u0000", b"\\ud800"],
}
TOKENS["mxl"] = TOKENS["musicxml"] + [b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"]
TOKENS["safetensors"] = TOKENS["json"] + [b"F32", b"BF16", b"I8", b"U8", b"F64",
                                          b'"shape":[', b'"data_offsets":[', b"4294967296"]
TOKENS["pickle"] = [b"\x80\x02", b"]", b"(", b"a", b"e", b"h\x00", b"J\xff\xff\xff\x7f",
                    b"}", b"s", b"X\xff\xff\xff\x7f", b"."]


def _edit(draw, data: bytearray, kind: str) -> None:
    """Apply one random edit to ``data`` in place (``draw``: a composite's)."""
    n = len(data)
    op = draw(st.sampled_from(["flip", "interesting", "token", "cut", "repeat", "byte",
                               "truncate"]))
    at = draw(st.integers(0, max(n - 1, 0)))
    if op == "flip" and n:
        data[at] ^= 1 << draw(st.integers(0, 7))
    elif op == "byte" and n:
        data[at] = draw(st.integers(0, 255))
    elif op == "interesting":
        value = draw(st.sampled_from(INTERESTING))
        data[at : at + len(value)] = value
    elif op == "token":
        token = draw(st.sampled_from(TOKENS[kind]))
        if draw(st.booleans()):
            data[at:at] = token
        else:
            data[at : at + len(token)] = token
    elif op in ("cut", "repeat") and n:
        length = draw(st.integers(1, max(1, min(n - at, 64))))
        span = bytes(data[at : at + length])
        if op == "cut":
            del data[at : at + length]
        else:
            data[at:at] = span * draw(st.integers(1, 64))
    elif op == "truncate":
        del data[at:]


@st.composite
def mutated(draw, seed: bytes, kind: str, max_edits: int = 6) -> bytes:
    """``seed`` after 1 to ``max_edits`` edits (see the module doc); ``kind`` picks the
    tokens spliced in (``midi``, ``abc``, ``musicxml``, ``mxl``, ``json``,
    ``safetensors``, ``pickle``)."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, max_edits))):
        _edit(draw, data, kind)
    return bytes(data)


def damaged(seed: bytes, kind: str) -> st.SearchStrategy[bytes]:
    """Mostly :func:`mutated` copies of ``seed``; now and then bytes of no format at all,
    or the seed's first bytes followed by random ones (past the magic number)."""
    head = seed[:16]
    return st.one_of(
        mutated(seed, kind),
        mutated(seed, kind),
        mutated(seed, kind),
        st.binary(max_size=512),
        st.binary(max_size=512).map(lambda tail: head + tail),
    )
