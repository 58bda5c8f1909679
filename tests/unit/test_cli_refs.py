"""The one rule the CLI names things by: an id, else the first naming field that matches,
and several matches are refused with the candidates listed."""

from __future__ import annotations

import pytest
import typer

from pamnode.cli.refs import ASSET, TOKEN, pick

ASSETS = [
    {"id": "a1", "name": "dc1", "path": "dc1"},
    {"id": "a2", "name": "web", "path": "dc1/web"},
    {"id": "a3", "name": "dc1", "path": "lab/dc1"},
    {"id": "a4", "name": "web", "path": "lab/dc1/web"},
]


def test_an_id_then_a_path_then_a_name_names_an_asset():
    assert pick(ASSET, "a4", ASSETS)["id"] == "a4"
    assert pick(ASSET, "lab/dc1/web", ASSETS)["id"] == "a4"
    # A path comes before a name: the top-level dc1, though another asset is named dc1 too.
    assert pick(ASSET, "dc1", ASSETS)["id"] == "a1"


def test_an_ambiguous_name_is_refused_with_each_candidate(capsys):
    with pytest.raises(typer.Exit) as exited:
        pick(ASSET, "web", ASSETS)
    assert exited.value.exit_code == 1
    said = capsys.readouterr().err
    assert "2 assets have the name 'web'" in said
    assert "a2  dc1/web" in said and "a4  lab/dc1/web" in said


def test_an_unknown_name_says_so(capsys):
    with pytest.raises(typer.Exit):
        pick(TOKEN, "nothing", [{"id": "t1", "user": "svc", "description": "main"}])
    assert "no API token named 'nothing' here (by id, description or user)" in (
        capsys.readouterr().err
    )
