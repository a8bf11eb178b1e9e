"""The README documents the command line, and only the command line that
exists (as sqlite-utils' test_docs.py does): every command and every option
that `--help` shows is in the README, and every command the README's
commands table names exists.

Data-driven from the Click tree, so a command added later (`evaluate`,
`curator`...) is checked as soon as it is registered.  An option counts as
documented when its flag is in the command's row of the commands table, in
the prose that follows the table (options every listing command shares), in
the `flagged` row for a command that takes "[filters]", or,
for an option that sets a setting (`--ws-url` for `ws_url`), in the
configuration table; the root group's options anywhere in the README."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from indexer.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    """A `## title` section of the README, up to the next `## ` heading."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end > 0 else None]


COMMANDS = _section("Commands")
#: the commands table: (command cell, what-it-does cell) per row
ROWS = [(m.group(1), m.group(2)) for m in re.finditer(r"^\| (`mbindex .*?`(?: / `.*?`)*) \| (.*) \|$", COMMANDS, re.M)]
#: the prose between the commands table and the next heading: options every listing command shares
PROSE = re.search(r"\n\|[^\n]*\|\n\n(.*?)\n#", COMMANDS, re.S).group(1)
SETTINGS = {m.group(1) for m in re.finditer(r"^\| `(\w+)` \| `MBINDEX_", _section("Configuration"), re.M)}


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    """Every command under `group` that --help lists, as (path, command); groups too."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd.hidden:
            continue
        yield (*path, name), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*path, name))


def _flags(cmd: click.Command) -> list[str]:
    """The long flags of the options --help shows (each option by its first long flag)."""
    out = []
    for p in cmd.params:
        if isinstance(p, click.Option) and not p.hidden:
            longs = [o for o in [*p.opts, *p.secondary_opts] if o.startswith("--")]
            out.extend(longs if p.secondary_opts else longs[:1])
    return [f for f in out if f != "--help"]


def _named(cell: str) -> list[tuple[str, ...]]:
    """The command paths one command cell names: `mbindex db upgrade [REV]` / `db current`,
    `mbindex sync artist\\|label MBID` (alternatives), `mbindex sync --watched` (the group)."""
    paths = []
    for code in re.findall(r"`([^`]+)`", cell):
        words = code.removeprefix("mbindex ").split()
        if not paths and code.startswith("mbindex "):
            root = ()
        else:  # `db current` after `mbindex db upgrade`: a sibling under the same group
            root = paths[-1][:-1] if paths and len(paths[-1]) > 1 else ()
            if root and words and words[0] == root[0]:
                root = ()
        names = []
        for w in words:
            if not re.fullmatch(r"[a-z][a-z-]*(\\\|[a-z][a-z-]*)*", w):
                break
            names.append(w.split("\\|"))
        if not names:
            continue
        last = names[-1]
        for alt in last:
            paths.append((*root, *(n[0] for n in names[:-1]), alt))
    return paths


def _rows_of(path: tuple[str, ...]) -> str:
    """The README rows (both cells) naming this command."""
    return "\n".join(f"{c} {d}" for c, d in ROWS if path in _named(c))


def _resolve(path: tuple[str, ...]):
    cmd = cli
    for name in path:
        if not isinstance(cmd, click.Group):
            return None
        cmd = cmd.get_command(click.Context(cmd), name)
        if cmd is None:
            return None
    return cmd


def test_the_readme_has_a_commands_table():
    assert len(ROWS) >= 15 and ("demo",) in _named(ROWS[0][0])


@pytest.mark.parametrize("path", [p for p, c in _commands(cli) if not isinstance(c, click.Group)], ids=" ".join)
def test_every_command_is_in_the_commands_table(path):
    assert _rows_of(path), f"`mbindex {' '.join(path)}` is not in the README's commands table"


@pytest.mark.parametrize("path", [p for p, _c in _commands(cli)], ids=" ".join)
def test_every_option_is_documented(path):
    cmd = _resolve(path)
    rows = _rows_of(path)
    if "filters" in rows:  # `[filters]`: "takes the `flagged` filters"
        rows += "\n" + _rows_of(("flagged",))
    if isinstance(cmd, click.Group):  # `sync --watched`: a group's own options are in its own rows
        rows = "\n".join(f"{c} {d}" for c, d in ROWS if f"`mbindex {' '.join(path)} --" in c)
    missing = [f for f in _flags(cmd)
               if not re.search(rf"{re.escape(f)}(?![\w-])", rows + PROSE)
               and f[2:].replace("-", "_") not in SETTINGS]
    assert not missing, f"`mbindex {' '.join(path)}`: {', '.join(missing)} not documented in the README"


def test_the_root_options_are_documented():
    missing = [f for f in _flags(cli) if not re.search(rf"{re.escape(f)}(?![\w-])", README)]
    assert not missing, f"{', '.join(missing)} not in the README"


@pytest.mark.parametrize("cell", [c for c, _d in ROWS])
def test_every_command_the_readme_names_exists(cell):
    paths = _named(cell)
    assert paths, f"no command found in {cell!r}"
    flags = set()
    for path in paths:
        cmd = _resolve(path)
        assert cmd is not None, f"the README names `mbindex {' '.join(path)}`, which does not exist"
        for c in (cmd, _resolve(path[:1])):  # a subcommand also takes its group's options
            flags |= {o for p in c.params if isinstance(p, click.Option) for o in [*p.opts, *p.secondary_opts]}
    stale = [f for f in re.findall(r"(?<![\w-])--[a-z][a-z-]*", cell) if f not in flags]
    assert not stale, f"the README gives {cell} options it does not have: {', '.join(stale)}"


def test_the_parser_reads_the_shapes_the_table_uses():
    assert _named("`mbindex db upgrade [REV] [--force]` / `db current` / `db downgrade REV`") == [
        ("db", "upgrade"), ("db", "current"), ("db", "downgrade")]
    assert _named("`mbindex sync artist\\|label\\|release-group\\|collection MBID`") == [
        ("sync", "artist"), ("sync", "label"), ("sync", "release-group"), ("sync", "collection")]
    assert _named("`mbindex watch add SCOPE MBID [--note T]` / `watch list` / `watch remove SCOPE MBID`") == [
        ("watch", "add"), ("watch", "list"), ("watch", "remove")]
    assert _named("`mbindex sync --watched [--enrich]`") == [("sync",)]
    assert _named("`mbindex report [--html FILE]`") == [("report",)]


def _texts():
    """(where, text) of every help text --help shows: each command's and each option's."""
    for path, cmd in [((), cli), *_commands(cli)]:
        where = " ".join(("mbindex", *path))
        yield where, cmd.help or ""
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.hidden:
                yield f"{where} {p.opts[-1]}", p.help or ""


def test_every_command_and_option_says_what_it_does():
    silent = [where for where, text in _texts() if not text.strip()]
    assert not silent, f"no help text: {', '.join(silent)}"


def test_help_texts_use_a_and_an_right():
    # "a artist" (issue #22); "an" before a consonant ("an MBID" is right: it is read "em-bid")
    wrong = [(where, m.group(0)) for where, text in _texts()
             for m in re.finditer(r"\ba (?:[aei]\w+|o(?!ne)\w+)|\ban [bcdfgjklmnpqrstvwyz]\w*", text)]
    assert not wrong, wrong
