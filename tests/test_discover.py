"""Path globs shared by excludes, parameter mappings and suppressions."""

from __future__ import annotations

from engine.discover import glob_match


def test_a_leading_dot_of_a_directory_name_is_part_of_the_pattern() -> None:
    assert glob_match(".azure/hub.json", ".azure/**")
    assert not glob_match("azure/hub.json", ".azure/**")


def test_a_leading_dot_slash_means_from_here() -> None:
    assert glob_match("legacy/old/hub.json", "./legacy/**")
    assert glob_match(".azure/hub.json", "./.azure/*.json")


def test_a_pattern_without_slash_matches_any_segment() -> None:
    assert glob_match("a/legacy/hub.json", "legacy")
    assert glob_match(".azure/hub.json", ".azure")
