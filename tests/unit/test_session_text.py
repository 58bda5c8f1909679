"""What the search index reads of a terminal: the lines a person saw, without escape
sequences, each with its moment; a gateway's typescript and timing as an asciicast; and the
queries a search accepts."""

from __future__ import annotations

import json

import pytest

from pamnode.core.errors import InvalidInput
from pamnode.sessions.search import phrases_of, snippet
from pamnode.sessions.search_index import read_texts
from pamnode.sessions.terminal_text import Lines, chunks, text_lines
from pamnode.sessions.typescripts import to_asciicast


def test_escapes_are_dropped_and_an_edited_line_is_what_was_seen():
    lines = Lines(budget=10_000)
    # A coloured prompt, a title (OSC), the user's echo char by char with a typo erased.
    lines.feed("\x1b]0;root@db: ~\x07\x1b[01;32mroot@db\x1b[00m:~# ", 0.5)
    for at, char in enumerate("systemctl stpo", start=1):
        lines.feed(char, float(at))
    lines.feed("\b \b\b \bop nginx", 16.0)
    lines.feed("\r\n", 17.0)
    lines.feed("Stopped nginx.\r\n\x1b(B\x1b[m", 17.2)
    got = [(line.text, line.at) for line in lines.finish()]
    assert got == [("root@db:~# systemctl stop nginx", 16.0), ("Stopped nginx.", 17.2)]


def test_a_line_redrawn_after_a_carriage_return_replaces_what_was_there():
    assert [line.text for line in text_lines("$ ech\r$ echo hi\r\nhi\r\n", 100)] == [
        "$ echo hi",
        "hi",
    ]


def test_the_budget_bounds_the_text_kept():
    lines = text_lines("a" * 50 + "\n" + "b" * 50 + "\n" + "c" * 50 + "\n", 80)
    assert sum(len(line.text) for line in lines) <= 80
    assert lines[0].text == "a" * 50


def test_chunks_group_lines_shown_together_and_keep_the_moment_all_were_shown():
    timed = Lines(budget=10_000)
    timed.feed("$ ls\n", 1.0)
    timed.feed("a b c\n", 1.4)
    timed.feed("$ uptime\n", 9.0)
    found = list(chunks(timed.finish()))
    assert [(chunk.text, chunk.at) for chunk in found] == [("$ ls\na b c", 1.4), ("$ uptime", 9.0)]


def test_a_gateway_typescript_with_timing_becomes_an_asciicast(tmp_path):
    output = b"[BEGIN TYPESCRIPT]\n$ echo hi\r\nhi\r\n\x1b[24;100H$ "
    (tmp_path / "typescript").write_bytes(output + b"\n[END TYPESCRIPT]\n")
    # guacd's timing counts neither its header nor its footer.
    (tmp_path / "typescript.timing").write_text("0.100000 11\n1.500000 15\n")
    assert to_asciicast(tmp_path)
    header, *events = [
        json.loads(line) for line in (tmp_path / "asciicast").read_text().split("\n") if line
    ]
    assert (header["version"], header["width"], header["height"]) == (2, 100, 24)
    assert events == [[0.1, "o", "$ echo hi\r\n"], [1.6, "o", "hi\r\n\x1b[24;100H$ "]]
    # And the index reads the asciicast, with the moments.
    pieces = read_texts(tmp_path, ["typescript", "asciicast"], 1000)
    assert [(p.kind, p.chunk.text, p.chunk.at) for p in pieces] == [
        ("asciicast", "$ echo hi", 0.1),
        ("asciicast", "hi\n$", 1.6),
    ]


def test_a_typescript_without_timing_stays_as_it_is(tmp_path):
    (tmp_path / "typescript").write_bytes(b"[BEGIN TYPESCRIPT]\n$ id\r\n")
    assert not to_asciicast(tmp_path)
    assert not (tmp_path / "asciicast").exists()
    pieces = read_texts(tmp_path, ["typescript"], 1000)
    assert [(p.kind, p.chunk.text, p.chunk.at) for p in pieces] == [("typescript", "$ id", None)]


def test_command_and_file_logs_are_indexed_without_their_time_stamps(tmp_path):
    (tmp_path / "commands").write_text("2026-12-07T05:00:00Z $ systemctl stop db\n")
    (tmp_path / "files").write_text("2026-12-07T05:00:01Z open /etc/passwd (read)\n")
    pieces = read_texts(tmp_path, ["commands", "files"], 1000)
    assert [(p.kind, p.chunk.text) for p in pieces] == [
        ("commands", "$ systemctl stop db"),
        ("files", "open /etc/passwd (read)"),
    ]


def test_queries_are_words_and_quoted_phrases():
    assert phrases_of('systemctl "Stop  nginx.service"') == [
        ["systemctl"],
        ["stop", "nginx", "service"],
    ]
    for bad in ["", "   ", "--- ;;", "x" * 201, " ".join(["w"] * 17)]:
        with pytest.raises(InvalidInput) as refused:
            phrases_of(bad)
        assert refused.value.code == "search_query_invalid"


def test_the_snippet_is_around_the_phrase():
    body = "x" * 300 + " systemctl  stop nginx " + "y" * 300
    found = snippet(body, ["stop", "nginx"])
    assert "stop nginx" in found and found.startswith("…") and found.endswith("…")
    assert len(found) < 200


def test_output_guacd_wrote_without_timing_comes_last_and_a_long_line_widens(tmp_path):
    wide = "x" * 120
    (tmp_path / "typescript").write_bytes(
        f"[BEGIN TYPESCRIPT]\n$ \x1b[1mls\x1b[0m\r\n{wide}\r\n".encode()
    )
    # The timing stopped short of the last write (no footer either: guacd was cut off).
    (tmp_path / "typescript.timing").write_text("0.250000 14\n")
    assert to_asciicast(tmp_path)
    header, *events = [
        json.loads(line) for line in (tmp_path / "asciicast").read_text().split("\n") if line
    ]
    assert (header["width"], header["height"]) == (120, 24)
    assert events == [[0.25, "o", "$ \x1b[1mls\x1b[0m\r\n"], [0.25, "o", f"{wide}\r\n"]]
