"""runwire.jsontext: the strict JSON reader every request body goes through, and its writers."""

from __future__ import annotations

import json
import random
import sys

import jiter
import pytest

from runwire.jsontext import JsonRefused, _check_parsed, dumps, dumps_stored, loads


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"x": 1' + "0" * 5000 + "}", "more than 4300 digits"),
        ("[1e400]", "out of range"),
        ("-1e400", "out of range"),
        ('{"a": [[{"b": NaN}]]}', "NaN is not a JSON number"),
        ("Infinity", "Infinity is not a JSON number"),
        ('["\\ud800"]', "lone UTF-16 surrogate"),
        ('"\\udc00x"', "lone UTF-16 surrogate"),
        ('{"\\ud800": 1}', "lone UTF-16 surrogate"),
        ('{"a": 1, "b": {"c": 1, "c": 2}}', "duplicate key 'c'"),
        ("[" * 65 + "]" * 65, "nested deeper than 64 levels"),
        ("[" * 10_000 + "]" * 10_000, "nested deeper than 64 levels"),
        # duplicate keys found by counting colons: refused before what the walk refuses, as the
        # standard library's reader refuses them
        ('{"a": "x:y", "d": ' + "[" * 70 + "]" * 70 + "}", "nested deeper than 64 levels"),
        ('{"a": 1, "a": ' + "[" * 70 + "]" * 70 + "}", "duplicate key 'a'"),
        ('{"a": [1e400], "a": 2}', "duplicate key 'a'"),
        ('{"a": "x:y", "b": {"c": ":", "c": ":"}}', "duplicate key 'c'"),
        ('{"\\u003a": 1, "b": 2, "b": 3}', "duplicate key 'b'"),
        ('{"a": 1, "\\u0061": 2}', "duplicate key 'a'"),
    ],
)
def test_json_that_parses_but_is_refused_says_why(text: str, message: str) -> None:
    with pytest.raises(JsonRefused, match=message) as refused:
        loads(text)
    assert refused.value.malformed is False


def test_a_syntax_error_is_malformed_with_its_place() -> None:
    with pytest.raises(JsonRefused, match=r"malformed JSON: .* \(line 1, column 6\)") as refused:
        loads('{"a":')
    assert refused.value.malformed is True


def test_what_is_accepted_is_what_json_reads() -> None:
    text = (
        '{"emoji": "\\ud83d\\ude00", "tiny": 1e-400, "big": 1'
        + "0" * 4299
        + ', "deep": '
        + "[" * 63
        + "]" * 63
        + "}"
    )
    assert loads(text) == json.loads(text)
    assert loads(dumps(loads(text))) == json.loads(text)


def _nested(levels: int) -> str:
    """Objects and arrays in turn, ``levels`` deep, with scalars of each kind along the way."""
    text = '"end"'
    for level in range(levels):
        text = f'{{"k": {text}, "n": {level}.5, "t": true}}' if level % 2 else f"[{text}, null, -{level}]"
    return text


def test_mixed_nesting_is_read_to_the_limit_and_refused_past_it() -> None:
    assert loads(_nested(64)) == json.loads(_nested(64))
    with pytest.raises(JsonRefused, match="nested deeper than 64 levels"):
        loads(_nested(65))


def test_a_lower_integer_digit_limit_than_the_default_is_kept() -> None:
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        assert loads("[" + "1" * 640 + "]") == [int("1" * 640)]
        with pytest.raises(JsonRefused, match="more than 640 digits"):
            loads("[" + "1" * 641 + "]")
    finally:
        sys.set_int_max_str_digits(before)


@pytest.mark.parametrize(
    "value",
    [float("nan"), 10**5000, "\ud800", {"a": object()}, b"x"],
    ids=["nan", "huge", "surrogate", "object", "bytes"],
)
def test_dumps_refuses_what_has_no_json_form(value: object) -> None:
    with pytest.raises(JsonRefused, match="no JSON form"):
        dumps(value)


def test_dumps_stored_replaces_lone_surrogates_so_the_text_encodes() -> None:
    text = dumps_stored({"a": "x\ud800y", "\udfff": "é😀"})
    assert json.loads(text) == {"a": "x\ufffdy", "\ufffd": "é😀"}
    text.encode("utf-8")


def test_dumps_stored_writes_a_key_json_has_no_form_for_as_its_text() -> None:
    """A plugin's result keyed by a tuple: stored with the key as its text, not refused (the
    run's terminal write failed, the run ending in an internal error without its results)."""
    text = dumps_stored({(1, 2): {"x": float("nan")}, 3: "c"})
    assert json.loads(text) == {"(1, 2)": {"x": None}, "3": "c"}


def _generated_objects(seed: int, count: int) -> list[str]:
    """JSON texts of objects with keys that may repeat (or be equal once unescaped), colons in
    keys and strings (some written as ``\\u003a``), nesting, and pretty or compact separators."""
    rng = random.Random(seed)
    names = ["a", "b", "\\u0061", "a:b", "c", "\\u003a", "x\\u003Ay", "d\\\\u003a"]
    scalars = ['"x"', '"x:y"', '"::"', '"\\u003a"', "1", "2.5", "1e400", "true", "null", '"\\\\u003"']

    def value(depth: int) -> str:
        roll = rng.random()
        if depth < 4 and roll < 0.3:
            return obj(depth + 1)
        if depth < 4 and roll < 0.4:
            return "[" + ", ".join(value(depth + 1) for _ in range(rng.randrange(3))) + "]"
        return rng.choice(scalars)

    def obj(depth: int) -> str:
        colon = rng.choice([":", ": ", " : "])
        keys = rng.sample(names, rng.randrange(1, 4))
        if rng.random() < 0.2:  # a duplicate, as written or equal once unescaped
            keys.append(rng.choice(keys))
        return "{" + ", ".join(f'"{key}"{colon}{value(depth)}' for key in keys) + "}"

    return [obj(0) for _ in range(count)]


def test_duplicate_keys_found_by_counting_are_those_jiter_finds() -> None:
    """:func:`loads` finds a duplicate key by counting colons (its own check); what it refuses
    and reads is what jiter's duplicate-key check and the standard library's reader make of the
    same texts."""
    refused = 0
    for text in _generated_objects(17, 3000):
        try:
            jiter.from_json(text.encode(), allow_inf_nan=False, catch_duplicate_keys=True)
        except ValueError:
            duplicate = True
        else:
            duplicate = False
        try:
            value = loads(text)
        except JsonRefused as exc:
            refused += 1
            assert ("duplicate key" in str(exc)) == duplicate, text
            continue
        assert not duplicate, text
        assert value == json.loads(text), text
        assert _check_parsed(value, 64) == _keys(value)  # what the colons are counted against
    assert 300 < refused < 2700  # both kinds were met


def _keys(value: object) -> int:
    """The number of keys of the objects in ``value``, counted one object at a time."""
    if isinstance(value, dict):
        return len(value) + sum(map(_keys, value.values()))
    if isinstance(value, list):
        return sum(map(_keys, value))
    return 0


def _strict_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """The reference for a duplicate key: the first key met twice, worded as :func:`loads`
    words it."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r:.80} in a JSON object")
        seen.add(key)
    return dict(pairs)


@pytest.mark.parametrize(
    "text",
    [
        '{"/": 1, "\\/": 2}',  # equal once unescaped: the escaped solidus
        '{"\\ud83d\\ude00": 1, "\U0001f600": 2}',  # a surrogate pair and the character itself
        '{"\U0001f600": 1, "\\uD83D\\uDE00": 2}',
        '{"é": 1, "\\u00e9": 2}',
        '{"": 1, "": 2}',
        '{"\\u0000": 1, "\\u0000": 2}',
        '{"\\"": 1, "\\u0022": 2}',
        '{"a:": 1, "a\\u003a": 2}',  # a colon in a key, written once as an escape
        '{"a:": 1, "a\\u003A": 2}',
        '{"a\\\\:": "\\\\", "a\\\\:": 1}',  # backslashes before colons
        '{"x": "\\\\u003a", "k": 1, "k": 2}',  # an escaped backslash before "u003a": no colon
        '{"x": "\\u003a:", "k": 1, "k": 2}',
        '{"k": 1, "k": ":"}',  # the value kept holds a colon the dropped one did not
        '{"k": ":", "k": 1}',
        '{"k": "a:b", "k": "a:b"}',
        '{"a" \n:\t 1 , "a"\r\n: 2}',
        '{"a": {"b": {"c": 1}}, "d": {"b": {"c": 1, "c": 2}}}',
        '[{"a": ":"}, {"b": 1}, {"b": 1, "b": 2}]',
        "[" * 63 + '{"a": 1, "a": 2}' + "]" * 63,
        "[" * 64 + '{"a": 1, "a": 2}' + "]" * 64,  # refused for its duplicate before its depth
        '{"a": ' + "[" * 300 + "]" * 300 + ', "a": 1}',
        '{"a": "x:y", "a": ' + "[" * 70 + "]" * 70 + "}",
        '{"a:": ' + "[" * 70 + "]" * 70 + ', "a:": 1e400}',
        '{"a": "q:", "b": ' + "9" * 4300 + ', "b": 1}',
        '{"a": "' + "x:" * 50_000 + '", "b": 1, "b": 2}',
    ],
)
def test_a_duplicate_key_however_written_is_refused_as_the_standard_reader_finds_it(text: str) -> None:
    with pytest.raises(ValueError) as reference:
        json.loads(text, object_pairs_hook=_strict_pairs)
    with pytest.raises(JsonRefused) as refused:
        loads(text)
    assert str(refused.value) == str(reference.value)
    assert refused.value.malformed is False


@pytest.mark.parametrize(
    "text",
    [
        '{"a:b": "c:d", "\\u003a": "\\u003A", "x": {"y": "::", "z": [":", {"": ":"}]}}',
        '{"a": 1, "A": 2, "a ": 3, "\\u0061\\u0062": 4, "\\/": "\\\\:"}',
        '{"\\ud83d\\ude00": ":", "é": "\\u00e9:", "\\u0000": "\\\\u003a"}',
        '[{"a": 1}, {"a": 1}, {"a": {"a": ":"}}]',
        '{"a" : 1e5 , "b":-0.0, "c": 5e-324, "d": 1' + "0" * 4299 + "}",
    ],
)
def test_keys_once_each_beside_colons_in_strings_are_read(text: str) -> None:
    assert json.dumps(loads(text)) == json.dumps(json.loads(text, object_pairs_hook=_strict_pairs))


def _key_variants_text(rng: random.Random) -> str:
    """An object whose keys may repeat, each written with its characters escaped at random
    (``\\u003a`` for a colon, ``\\/``, surrogate pairs for astral characters), with colons in
    keys and strings, nesting and separators of every spacing."""
    chars = [":", "a", "b", "/", '"', "\\", "é", "\U0001f600", "\x00", "\n", " "]

    def string(text: str) -> str:
        out = []
        for char in text:
            code = ord(char)
            if rng.random() < 0.3 or char in '"\\' or code < 0x20:
                if code > 0xFFFF:
                    code -= 0x10000
                    out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04X}")
                else:
                    out.append(rng.choice([f"\\u{code:04x}", f"\\u{code:04X}"]))
            else:
                out.append("\\/" if char == "/" and rng.random() < 0.5 else char)
        return '"' + "".join(out) + '"'

    def spaces() -> str:
        return rng.choice(["", "", " ", "\n  ", "\t"])

    def value(depth: int) -> str:
        roll = rng.random()
        if depth < 4 and roll < 0.3:
            return obj(depth + 1)
        if depth < 4 and roll < 0.4:
            return "[" + ",".join(value(depth + 1) for _ in range(rng.randrange(3))) + "]"
        if roll < 0.75:
            return string("".join(rng.choices(chars, k=rng.randrange(5))))
        return rng.choice(["0", "-1.5", "2e10", "true", "null"])

    def obj(depth: int) -> str:
        keys = ["".join(rng.choices(chars, k=rng.randrange(3))) for _ in range(rng.randrange(5))]
        if keys and rng.random() < 0.3:
            keys.insert(rng.randrange(len(keys) + 1), rng.choice(keys))
        pairs = [string(key) + spaces() + ":" + spaces() + value(depth) for key in keys]
        return "{" + ("," + spaces()).join(pairs) + "}"

    return obj(0)


def test_generated_keys_written_every_way_are_refused_or_read_as_the_standard_reader_does() -> None:
    """Texts with keys equal once unescaped: what :func:`loads` refuses for a duplicate key,
    with the message, and what it reads, are what the standard library's reader with a
    duplicate check makes of them."""
    rng = random.Random(20261207)
    refused = 0
    for _ in range(4000):
        text = _key_variants_text(rng)
        try:
            expected = json.loads(text, object_pairs_hook=_strict_pairs)
        except ValueError as exc:
            refused += 1
            with pytest.raises(JsonRefused) as refusal:
                loads(text)
            assert (str(refusal.value), refusal.value.malformed) == (str(exc), False), text
            continue
        assert json.dumps(loads(text)) == json.dumps(expected), text
    assert 400 < refused < 3600  # both kinds were met
