"""Loader: bytes to text, JSONC, positions, and bad input that must never crash."""

from __future__ import annotations

import json

import pytest

from engine.source import MAX_DEPTH, SourceError, SourceFile, decode, parse_json, strip_jsonc


def test_utf8_with_bom_is_decoded() -> None:
    assert decode(b'\xef\xbb\xbf{"a": 1}') == '{"a": 1}'


def test_utf16_le_with_bom_is_decoded() -> None:
    assert decode('{"a": "é"}'.encode("utf-16-le").join([b"\xff\xfe", b""])) == '{"a": "é"}'


def test_utf16_be_with_bom_is_decoded() -> None:
    assert decode(b"\xfe\xff" + '{"a": 1}'.encode("utf-16-be")) == '{"a": 1}'


def test_utf16_without_bom_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="UTF-16 without a byte-order mark"):
        decode('{"a": 1}'.encode("utf-16-le"))


def test_invalid_utf8_names_the_byte_and_position() -> None:
    with pytest.raises(SourceError) as exc:
        decode(b'{\n  "a": "\xff"\n}')
    assert "0xff" in exc.value.message
    assert (exc.value.line, exc.value.column) == (2, 9)


def test_crlf_line_endings_parse() -> None:
    assert parse_json('{\r\n  "a": 1\r\n}\r\n') == {"a": 1}


def test_line_and_block_comments_are_stripped() -> None:
    text = '{\n  // line\n  "a": 1, /* block\n spanning */ "b": 2\n}'
    assert parse_json(text) == {"a": 1, "b": 2}


def test_url_inside_string_is_not_a_comment() -> None:
    assert parse_json('{"u": "https://example.com/x"} // trailing') == {"u": "https://example.com/x"}


def test_comment_markers_inside_strings_survive() -> None:
    assert parse_json('{"a": "/* not a comment */", "b": "x // y"}') == {
        "a": "/* not a comment */",
        "b": "x // y",
    }


def test_trailing_commas_are_accepted() -> None:
    assert parse_json('{"a": [1, 2,], "b": 3,}') == {"a": [1, 2], "b": 3}


def test_multiline_strings_are_accepted() -> None:
    assert parse_json('{"e": "[concat(\n  \'a\', \'b\')]"}') == {"e": "[concat(\n  'a', 'b')]"}


def test_stripping_keeps_offsets_and_lines() -> None:
    text = '{ /* c\n c */ "a": 1 // x\n}'
    stripped = strip_jsonc(text)
    assert len(stripped) == len(text)
    assert stripped.count("\n") == text.count("\n")


def test_truncated_file_is_located_error() -> None:
    with pytest.raises(SourceError) as exc:
        parse_json('{\n  "a": [1, 2\n')
    assert "truncated" in exc.value.message
    assert exc.value.line >= 2


def test_syntax_error_has_line_and_column() -> None:
    with pytest.raises(SourceError) as exc:
        parse_json('{\n  "a": 1\n  "b": 2\n}')
    assert (exc.value.line, exc.value.column) == (3, 3)


def test_unterminated_string_is_reported() -> None:
    with pytest.raises(SourceError, match="unterminated string"):
        parse_json('{"a": "oops}')


def test_very_deep_nesting_is_a_located_error_not_a_crash() -> None:
    text = "[" * 100_000 + "]" * 100_000
    with pytest.raises(SourceError) as exc:
        parse_json(text)
    assert f"deeper than {MAX_DEPTH}" in exc.value.message
    assert exc.value.column == MAX_DEPTH + 1


def test_huge_string_parses() -> None:
    big = "x" * 5_000_000
    assert parse_json(json.dumps({"a": big}))["a"] == big


def test_position_of_property_key() -> None:
    src = SourceFile("t.json", '{\n  "resources": [\n    {\n      "name": "hub"\n    }\n  ]\n}')
    assert src.locate(("resources", 0, "name")) == (4, 7)


def test_position_lookup_is_case_insensitive() -> None:
    src = SourceFile("t.json", '{"Properties": {"DisableLocalAuth": false}}')
    assert src.locate(("properties", "disableLocalAuth")) == (1, 17)
    assert src.resolve(("properties", "disableLocalAuth")) == (("Properties", "DisableLocalAuth"), True)


def test_missing_property_locates_nearest_ancestor() -> None:
    src = SourceFile("t.json", '{\n  "properties": {\n    "a": 1\n  }\n}')
    assert src.locate(("properties", "missing")) == (2, 3)
    assert src.resolve(("properties", "missing")) == (("properties",), False)


def test_positions_skip_comments() -> None:
    src = SourceFile("t.json", '{\n  // "a": 0,\n  "a": 1\n}')
    assert src.locate(("a",)) == (3, 3)


def test_positions_in_crlf_files() -> None:
    src = SourceFile("t.json", '{\r\n  "a": {\r\n    "b": 1\r\n  }\r\n}')
    assert src.locate(("a", "b")) == (3, 5)


def test_positions_after_a_block_comment_between_members() -> None:
    src = SourceFile("t.json", '{\n  "a": [1, /* {"b": 2} */ 3],\n  "b": 4\n}')
    assert src.locate(("a", 1)) == (2, 27)
    assert src.locate(("b",)) == (3, 3)


def test_positions_with_trailing_commas() -> None:
    src = SourceFile("t.json", '{\n  "a": [1, 2,],\n  "b": {"c": 3,},\n}')
    assert src.locate(("b", "c")) == (3, 9)
    assert src.resolve(("a", 2)) == (("a",), False)


def test_positions_skip_brackets_and_escaped_quotes_inside_strings() -> None:
    src = SourceFile("t.json", '{"x": "[concat(\'}\', \\"]\\")]", "y": {"z": 1}}')
    assert src.locate(("y", "z")) == (1, 37)


def test_positions_of_duplicate_keys_are_those_of_the_last_whose_value_is_used() -> None:
    # json.loads keeps the last value, and so does ARM; a finding on that value must
    # point at it, not at the overridden first key.
    src = SourceFile("t.json", '{"a": 1,\n "a": 2}')
    assert src.locate(("a",)) == (2, 2)


def test_positions_of_duplicate_keys_in_jsonc_are_those_of_the_last() -> None:
    src = SourceFile("t.json", '// c\n{"a": {"b": 1},\n "a": {"b": 2}}')
    assert src.locate(("a", "b")) == (3, 8)


def test_positions_under_a_leading_comment() -> None:
    src = SourceFile("t.json", '// exported\n{"a": {"b": true}}')
    assert src.locate(("a", "b")) == (2, 8)


def test_number_too_long_for_python_is_a_located_error() -> None:
    with pytest.raises(SourceError) as exc:
        parse_json('{\n  "a": ' + "9" * 5000 + "}")
    assert (exc.value.line, exc.value.column) == (2, 8)
    assert "4,300 digits" in exc.value.message


def test_lone_surrogate_escape_is_a_located_error() -> None:
    with pytest.raises(SourceError) as exc:
        parse_json('{"name": "hub\\ud800"}')
    assert (exc.value.line, exc.value.column) == (1, 14)
    assert "surrogate" in exc.value.message


def test_surrogate_pair_is_one_character() -> None:
    assert parse_json('{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


def test_line_and_column_are_the_same_whether_counted_or_read_from_the_line_table() -> None:
    text = '{\n  "a": 1,\n\n  "b": [\n    2, 3\n  ]\n}\n'
    counted = SourceFile("t.json", text)
    tabled = SourceFile("t.json", text)
    for offset in range(len(text) + 1):
        tabled._counted = 10**6  # past the counted positions: the table is built
        assert counted.line_col(offset) == tabled.line_col(offset)
    assert tabled._lines is not None
    assert [counted.line_col(o) for o in (0, 2, 12, 13)] == [(1, 1), (2, 1), (3, 1), (4, 1)]


def test_keys_written_twice_in_one_object_are_found_with_both_places() -> None:
    from engine.source import KeyCounter, repeated_keys

    text = '{"a": 1, "b": {"x": [ {"k": 1, "k": 2} ], "y": 0, "x": 3}, "a\\u0062": 4, "ab": 5}'
    keys = KeyCounter()
    assert parse_json(text, keys) == {"a": 1, "b": {"x": 3, "y": 0}, "ab": 5}
    assert keys.repeated
    found = [(path, key, text[first:first + 4], text[at:at + 4]) for path, key, first, at in repeated_keys(text)]
    assert found == [(("b", "x", 0), "k", '"k":', '"k":'), (("b",), "x", '"x":', '"x":'),
                     ((), "ab", '"a\\u', '"ab"')]


def test_a_document_without_repeated_keys_is_not_flagged() -> None:
    from engine.source import KeyCounter

    keys = KeyCounter()
    parse_json('{"a": {"b": 1}, "B": 2, "c": [{"b": 1}, {"b": 2}]}', keys)
    assert not keys.repeated
