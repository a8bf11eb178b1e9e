"""The `mbindex` command: a thin Click layer over the library.

Exit codes (also in the README):
  0 success
  1 failure: ws/2 unreachable after retries, database error, unexpected error
  2 bad input: usage error, malformed MBID, bad configuration
  3 partial: the run ended early (budget used up) or some items were not found
  4 another sync/import holds the database's writer lock
  5 finished, but some input was quarantined (dump import)
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from . import __version__
from .config import ConfigError, Settings, load_settings
from .db import BadDatabaseURL, Database, DatabaseError, open_database
from .output import FORMATS, render
from .pgembed import EmbeddedError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL, EXIT_LOCKED, EXIT_QUARANTINED = 0, 1, 2, 3, 4, 5


class UserError(click.ClickException):
    """A problem the user can fix; printed without a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE):
        super().__init__(message)
        self.exit_code = exit_code


class App:
    """Per-invocation state: settings, and the database once it is needed."""

    def __init__(self, overrides: dict, config_file: str | None, quiet: bool):
        self.overrides = {k: v for k, v in overrides.items() if v is not None}
        self.config_file = config_file
        self.quiet = quiet
        self._settings: Settings | None = None
        self._db: Database | None = None

    def note(self, message: str) -> None:
        if not self.quiet:
            click.echo(message, err=True)

    def settings(self, **more) -> Settings:
        if more:
            self.overrides.update({k: v for k, v in more.items() if v is not None})
            self._settings = None
        if self._settings is None:
            try:
                self._settings = load_settings(self.overrides, self.config_file)
            except ConfigError as exc:
                raise UserError(str(exc), EXIT_USAGE) from None
        return self._settings

    def db(self, migrate: bool = True) -> Database:
        if self._db is None:
            try:
                self._db = open_database(self.settings(), echo=self.note, migrate=migrate)
            except BadDatabaseURL as exc:
                raise UserError(str(exc), EXIT_USAGE) from None
            except (DatabaseError, EmbeddedError) as exc:
                raise UserError(str(exc)) from None
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
            if self._db.embedded is not None:
                self._db.embedded.release()
            self._db = None


pass_app = click.make_pass_decorator(App)

#: PostgreSQL's LIMIT is a bigint: a larger --limit would fail in the database
MAX_ROWS = 2**63 - 1


class _Text(click.ParamType):
    """Free text that goes to the database or ws/2: refuse what cannot get there (a
    non-UTF-8 byte in argv arrives as a lone surrogate; PostgreSQL text has no NUL)."""

    name = "text"

    def convert(self, value, param, ctx):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                self.fail(f"{value.encode('utf-8', 'backslashreplace').decode()!r} is not valid UTF-8 text", param, ctx)
            if "\x00" in value:
                self.fail("text must not contain NUL characters", param, ctx)
        return value


TEXT = _Text()


def output_option(fn):
    """--output/-o and the sqlite-utils style shortcuts --csv/--json/--nl."""

    @click.option("-o", "--output", "output", type=click.Choice(FORMATS), default=None, help="Output format.")
    @click.option("--csv", "fmt_csv", is_flag=True, help="Same as --output csv.")
    @click.option("--json", "fmt_json", is_flag=True, help="Same as --output json.")
    @click.option("--nl", "fmt_nl", is_flag=True, help="Same as --output ndjson (one JSON object per line).")
    @functools.wraps(fn)
    def wrapper(*args, output, fmt_csv, fmt_json, fmt_nl, **kwargs):
        chosen = [f for f, on in (("csv", fmt_csv), ("json", fmt_json), ("ndjson", fmt_nl)) if on]
        if output:
            chosen.append(output)
        if len(set(chosen)) > 1:
            raise UserError("choose one output format", EXIT_USAGE)
        return fn(*args, output=chosen[0] if chosen else "table", **kwargs)

    return wrapper


def ws_options(fn):
    """Options of every command that talks to ws/2."""

    @click.option("--ws-url", help="ws/2 server, e.g. https://musicbrainz.org [env MBINDEX_WS_URL].")
    @click.option("--contact", help="E-mail or URL for the User-Agent [env MBINDEX_CONTACT].")
    @click.option("--rate", type=float, help="Requests per second, 0 = unlimited (own mirror only) [env MBINDEX_RATE].")
    @click.option("--timeout", type=float, help="Seconds to wait for each answer.")
    @click.option("--retries", type=int, help="Retries of a failing request before giving up.")
    @functools.wraps(fn)
    def wrapper(*args, ws_url, contact, rate, timeout, retries, **kwargs):
        app = click.get_current_context().find_object(App)
        app.settings(ws_url=ws_url, contact=contact, rate=rate, timeout=timeout, retries=retries)
        return fn(*args, **kwargs)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mbindex")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Config file (TOML).")
@click.option("--database-url", help="PostgreSQL URL; default: embedded server [env MBINDEX_DATABASE_URL].")
@click.option("--data-dir", help="Where the embedded server keeps its data [env MBINDEX_DATA_DIR].")
@click.option("-q", "--quiet", is_flag=True, help="Only print results and errors.")
@click.pass_context
def cli(ctx, config_file, database_url, data_dir, quiet):
    """mbindex: mirror MusicBrainz and find releases at risk of being lost."""
    app = App({"database_url": database_url, "data_dir": data_dir}, config_file, quiet)
    ctx.obj = app
    ctx.call_on_close(app.close)


# --- config ------------------------------------------------------------------


@cli.group()
def config():
    """Inspect configuration."""


@config.command("show")
@output_option
@pass_app
def config_show(app: App, output):
    """Print the effective settings (passwords masked) and where each comes from."""
    settings = app.settings()
    rows = [
        {"setting": k, "value": v, "source": settings.sources.get(k, "")}
        for k, v in settings.masked().items()
        if k != "config_file"
    ]
    click.echo(render(rows, output))


# --- db ------------------------------------------------------------------------


@cli.group()
def db():
    """Database schema migrations (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
@pass_app
def db_upgrade(app: App, revision):
    """Migrate the schema up to REVISION (default: the latest)."""
    database = app.db(migrate=False)
    try:
        database.upgrade(revision)
    except Exception as exc:
        raise UserError(f"upgrade failed: {exc}") from None
    click.echo(f"schema at {database.current_revision()}")


@db.command("downgrade")
@click.argument("revision")
@pass_app
def db_downgrade(app: App, revision):
    """Migrate the schema down to REVISION ('base' removes every table: data is lost)."""
    database = app.db(migrate=False)
    try:
        database.downgrade(revision)
    except Exception as exc:
        raise UserError(f"downgrade failed: {exc}", EXIT_USAGE) from None
    click.echo(f"schema at {database.current_revision() or 'base (empty)'}")


@db.command("current")
@pass_app
def db_current(app: App):
    """Show the schema revision of the database and the latest one."""
    database = app.db(migrate=False)
    try:
        current = database.current_revision()
    except Exception as exc:
        raise UserError(f"cannot read schema revision: {exc}") from None
    head = database.head_revision()
    state = "up to date" if current == head else ("empty" if current is None else "needs `mbindex db upgrade`")
    click.echo(f"database: {database.display_url}\ncurrent:  {current or '(none)'}\nlatest:   {head}\nstate:    {state}")


# --- sync ----------------------------------------------------------------------


def _client(app: App, **kwargs):
    from .mb import Client, WSError

    try:
        return Client(app.settings(), **kwargs)
    except WSError as exc:
        raise UserError(str(exc), EXIT_USAGE) from None


def _validate_mbids(values) -> list[str]:
    from .mapping import parse_mbid

    out = []
    for value in values:
        try:
            out.append(str(parse_mbid(value)))
        except ValueError as exc:
            raise UserError(str(exc), EXIT_USAGE) from None
    return out


def _report_sync(app: App, result, exit_on_problem: bool = True) -> None:
    c = result.counts
    click.echo(
        f"run {result.run_id}: {result.status}; {result.requests} request(s); "
        f"inserted {c.inserted}, updated {c.updated}, unchanged {c.unchanged}, "
        f"tombstoned {c.tombstoned}, redirected {c.redirected}"
    )
    for mbid in c.missing:
        click.echo(f"not found on MusicBrainz (404): {mbid}", err=True)
    if not exit_on_problem:
        return
    if result.status == "failed":
        raise UserError(f"sync failed: {result.error}", EXIT_FAILURE)
    if result.status == "partial":
        sys.exit(EXIT_PARTIAL)


@cli.group(invoke_without_command=True)
@click.option("--watched", is_flag=True, help="Sync every scope on the watchlist (for cron).")
@click.option("--max-requests", type=click.IntRange(1), help="Stop after N requests; the next run resumes.")
@click.option("--time-budget", help="Stop after this long, e.g. 30m or 2h; the next run resumes.")
@ws_options
@click.pass_context
def sync(ctx, watched, max_requests, time_budget):
    """Pull data from the MusicBrainz web service (ws/2)."""
    ctx.obj.sync_budget = _budget(max_requests, time_budget)
    if ctx.invoked_subcommand is not None:
        return
    if not watched:
        raise UserError("give a scope (e.g. `mbindex sync artist MBID`) or --watched", EXIT_USAGE)
    from .watch import sync_watched

    app = ctx.obj
    client = _client(app, **app.sync_budget)
    database = app.db()
    try:
        with database.writer_lock("sync"):
            results = sync_watched(database, client, on_page=_page_logger(app), log=app.note)
    except DatabaseError as exc:
        raise UserError(str(exc), EXIT_LOCKED if "another mbindex" in str(exc) else EXIT_FAILURE) from None
    if not results:
        app.note("the watchlist is empty: add scopes with `mbindex watch add SCOPE MBID`")
    for result in results:
        _report_sync(app, result, exit_on_problem=False)
    for result in results:
        _report_sync(app, result) if result.status != "ok" else None


def _budget(max_requests, time_budget) -> dict:
    import time

    from .watch import WatchError, parse_duration

    out = {}
    if max_requests:
        out["max_requests"] = max_requests
    if time_budget:
        try:
            out["deadline"] = time.monotonic() + parse_duration(time_budget)
        except WatchError as exc:
            raise UserError(str(exc), EXIT_USAGE) from None
    return out


def _page_logger(app: App):
    import time

    start = time.monotonic()

    def on_page(done: int, total: int) -> None:
        elapsed = time.monotonic() - start
        eta = elapsed / done * (total - done) if done else 0
        line = f"releases {done}/{total}  elapsed {elapsed:.0f}s  eta {eta:.0f}s"
        if sys.stderr.isatty() and not app.quiet:  # one updating status line on a terminal
            width = 30
            filled = int(width * done / total) if total else width
            click.echo(f"\r[{'#' * filled}{'.' * (width - filled)}] {line}", nl=False, err=True)
            if done >= total:
                click.echo("", err=True)
        else:  # plain log lines for cron
            app.note(line)

    return on_page


def _sync_scope_cmd(scope: str):
    @sync.command(scope, help=f"Fetch every release of a {scope} (browse, then lookups where needed).")
    @click.argument("mbid")
    @ws_options
    @pass_app
    def cmd(app: App, mbid):
        from .sync import sync_scope

        target = _validate_mbids([mbid])[0]
        client = _client(app, **getattr(app, "sync_budget", {}))
        database = app.db()
        try:
            with database.writer_lock("sync"):
                result = sync_scope(database, client, scope, target, on_page=_page_logger(app))
        except DatabaseError as exc:
            raise UserError(str(exc), EXIT_LOCKED if "another mbindex" in str(exc) else EXIT_FAILURE) from None
        _report_sync(app, result)

    cmd.__name__ = f"sync_{scope.replace('-', '_')}_cmd"
    return cmd


for _scope in ("artist", "label", "release-group", "collection"):
    _sync_scope_cmd(_scope)


@sync.command("query")
@click.argument("query", type=TEXT)
@ws_options
@pass_app
def sync_query_cmd(app: App, query):
    """Search releases (Lucene syntax) and fetch every hit (public search stops at 500)."""
    from .sync import sync_query

    if not query.strip():
        raise UserError("give a search query, e.g. mbindex sync query 'format:Cassette AND country:GB'", EXIT_USAGE)
    client = _client(app, **getattr(app, "sync_budget", {}))
    database = app.db()
    try:
        with database.writer_lock("sync"):
            result = sync_query(database, client, query, on_page=_page_logger(app))
    except DatabaseError as exc:
        raise UserError(str(exc), EXIT_LOCKED if "another mbindex" in str(exc) else EXIT_FAILURE) from None
    if result.error and result.status == "partial":
        click.echo(result.error, err=True)
    _report_sync(app, result)


@cli.group()
def watch():
    """The watchlist synced by `mbindex sync --watched`."""


@watch.command("add")
@click.argument("scope", type=click.Choice(["artist", "label", "release-group", "collection"]))
@click.argument("mbid")
@click.option("--note", type=TEXT, help="Why it is watched.")
@pass_app
def watch_add(app: App, scope, mbid, note):
    from .watch import add_watch

    target = _validate_mbids([mbid])[0]
    added = add_watch(app.db(), scope, target, note)
    click.echo(f"{'watching' if added else 'already watched'}: {scope} {target}")


@watch.command("remove")
@click.argument("scope", type=click.Choice(["artist", "label", "release-group", "collection"]))
@click.argument("mbid")
@pass_app
def watch_remove(app: App, scope, mbid):
    from .watch import remove_watch

    target = _validate_mbids([mbid])[0]
    if not remove_watch(app.db(), scope, target):
        raise UserError(f"not on the watchlist: {scope} {target}", EXIT_USAGE)
    click.echo(f"removed: {scope} {target}")


@watch.command("list")
@output_option
@pass_app
def watch_list(app: App, output):
    from .watch import list_watches

    click.echo(render(list_watches(app.db()), output))


@sync.command("release")
@click.argument("mbids", nargs=-1, required=True)
@ws_options
@pass_app
def sync_release_cmd(app: App, mbids):
    """Fetch releases by MBID with everything the risk score needs."""
    from .sync import sync_releases

    ids = _validate_mbids(mbids)
    client = _client(app)
    database = app.db()
    try:
        with database.writer_lock("sync"):
            result = sync_releases(database, client, ids)
    except DatabaseError as exc:
        raise UserError(str(exc), EXIT_LOCKED if "another mbindex" in str(exc) else EXIT_FAILURE) from None
    _report_sync(app, result)


# --- dump import -----------------------------------------------------------------


@cli.command("import-dump")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--entity", type=click.Choice(["release", "release-group", "artist", "label", "recording"]),
              help="Which entity the input holds (default: from the archive member or file name).")
@click.option("--complete/--partial", "complete", default=None,
              help="The dump holds every entity of its kind, so known releases it lacks are tombstoned "
                   "[default: --complete for an archive, --partial for a plain file].")
@click.option("--again", is_flag=True, help="Import files that an earlier import already finished.")
@click.option("--batch", type=click.IntRange(1, 100000), default=1000, show_default=True,
              help="Lines per transaction (and per checkpoint).")
@pass_app
def import_dump_cmd(app: App, path, entity, complete, again, batch):
    """Load MusicBrainz JSON data dumps (.tar.xz, JSON lines, or a directory of them).

    Streams the input, loads it with COPY in batches, keeps every version and
    resumes where an interrupted import stopped. Bad lines are quarantined.
    """
    from .dump import DumpError, import_dump

    database = app.db()
    progress = _bytes_progress(app)
    try:
        with database.writer_lock("import"):
            result = import_dump(database, path, entity=entity, complete=complete, again=again, batch=batch,
                                 on_progress=progress, log=app.note)
    except DumpError as exc:
        raise UserError(str(exc), EXIT_USAGE) from None
    except DatabaseError as exc:
        raise UserError(str(exc), EXIT_LOCKED if "another mbindex" in str(exc) else EXIT_FAILURE) from None
    progress(None, None, None)
    for label in result.skipped:
        click.echo(f"already imported: {label} (use --again to import it once more)", err=True)
    rate = result.lines / result.seconds if result.seconds else 0
    click.echo(
        f"run {result.run_id}: {result.status}; {result.lines} line(s) in {result.seconds:.1f}s ({rate:.0f}/s); "
        f"inserted {result.inserted}, updated {result.updated}, unchanged {result.unchanged}, "
        f"quarantined {result.quarantined}, tombstoned {result.tombstoned}"
    )
    if result.status == "failed":
        raise UserError(f"import failed: {result.error} (run the same command again to continue)", EXIT_FAILURE)
    if result.quarantined:
        click.echo(f"{result.quarantined} line(s) quarantined: see the quarantine table (sync_run_id "
                   f"{result.run_id})", err=True)
        sys.exit(EXIT_QUARANTINED)


def _bytes_progress(app: App):
    """Progress by compressed bytes read: a bar on a terminal, a log line a minute for cron."""
    import time

    start = time.monotonic()
    last = [0.0]

    def on_progress(done, total, lines) -> None:
        tty = sys.stderr.isatty() and not app.quiet
        if done is None:  # finished
            if tty and last[0]:
                click.echo("", err=True)
            return
        now = time.monotonic()
        elapsed = now - start
        frac = done / total if total else 0
        eta = elapsed / frac - elapsed if frac else 0
        line = f"{frac:6.1%}  {lines} lines  {lines / elapsed if elapsed else 0:.0f}/s  eta {eta:.0f}s"
        if tty:
            if now - last[0] >= 0.2:
                filled = int(30 * frac)
                click.echo(f"\r[{'#' * filled}{'.' * (30 - filled)}] {line}", nl=False, err=True)
                last[0] = now
        elif now - last[0] >= 60 or not last[0]:
            app.note(line)
            last[0] = now

    return on_progress


# --- runs ----------------------------------------------------------------------


@cli.command("runs")
@click.option("--limit", type=click.IntRange(1, MAX_ROWS), default=20, show_default=True)
@output_option
@pass_app
def runs(app: App, limit, output):
    """List recent sync/import/score runs."""
    from sqlalchemy import select

    from .models import SyncRun

    with app.db().session() as s:
        rows = s.execute(select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)).scalars().all()
        data = [
            {
                "id": r.id,
                "kind": r.kind,
                "scope": r.scope,
                "target": r.target,
                "status": r.status,
                "started": r.started_at,
                "seconds": round((r.finished_at - r.started_at).total_seconds(), 1) if r.finished_at else None,
                "requests": r.requests,
                "inserted": r.inserted,
                "updated": r.updated,
                "unchanged": r.unchanged,
                "tombstoned": r.tombstoned,
                "redirected": r.redirected,
                "quarantined": r.quarantined,
                "error": r.error,
            }
            for r in rows
        ]
    click.echo(render(data, output))


# --- demo ----------------------------------------------------------------------


@cli.command("demo")
@click.option("--rate", type=float, default=None, help="Requests per second against the replay server.")
@pass_app
def demo(app: App, rate):
    """Sync bundled real MusicBrainz recordings through a local replay server.

    For trying mbindex where musicbrainz.org is not reachable: a local HTTP
    server answers ws/2 requests with real responses recorded from
    musicbrainz.org, and the releases are synced into the configured
    database (the embedded one by default).
    """
    from .replay import ReplayServer
    from .sync import sync_releases

    demo_dir = Path(__file__).parent / "demo"
    with ReplayServer() as server:
        count = server.load_dir(demo_dir)
        ids = sorted(p.stem for p in (demo_dir / "release").glob("*.json"))
        app.note(f"mbindex demo: replay server on {server.url} with {count} recorded responses")
        app.settings(ws_url=server.url, contact="mbindex-demo@localhost", rate=rate)
        client = _client(app)
        database = app.db()
        with database.writer_lock("demo"):
            result = sync_releases(database, client, ids)
    _report_demo(database, ids)
    _report_sync(app, result, exit_on_problem=False)
    # then what the mirror is for: score and show the at-risk worklist
    from .curate import Filters, flagged
    from .risk import load_policy, run_score

    scored = run_score(database, load_policy(None), changed_only=True)
    click.echo(f"\nscored {scored.scored} release(s) with policy {scored.policy_version}; the worklist "
               "(`mbindex flagged`, `mbindex show MBID` explains each signal):")
    with database.session() as s:
        rows = flagged(s, Filters(limit=10))
    click.echo(render(rows, "table", columns=["mbid", "score", "title", "formats", "signals"]))
    if result.status != "ok":
        _report_sync(app, result)


def _report_demo(database: Database, ids: list[str]) -> None:
    from sqlalchemy import func, select

    from . import models as m

    with database.session() as s:
        rows = []
        for mbid in ids:
            rel = s.get(m.Release, mbid)
            if rel is None:
                continue
            rows.append(
                {
                    "mbid": rel.mbid,
                    "title": rel.title,
                    "artist": rel.artist_credit,
                    "date": rel.date,
                    "formats": rel.formats,
                    "tracks": s.scalar(select(func.count()).select_from(m.Track).where(m.Track.release_mbid == rel.mbid)),
                    "catalog": [x.catalog_number for x in rel.labels if x.catalog_number],
                    "barcode": "(none)" if rel.barcode == "" else rel.barcode,
                }
            )
    click.echo(render(rows, "table"))


# --- at-risk scoring and the archivist's workflow --------------------------------


def _policy(path):
    from .risk import PolicyError, load_policy

    try:
        return load_policy(path)
    except PolicyError as exc:
        raise UserError(str(exc), EXIT_USAGE) from None


def _filter_options(fn):
    """Filters shared by `flagged` and `export`."""

    from .curate import CURATION_STATES, SORTS

    @click.option("--min-score", type=click.IntRange(0, 100), help="Only releases scoring at least N.")
    @click.option("--format", "formats", type=TEXT, multiple=True, help='Medium format, e.g. Cassette (repeatable).')
    @click.option("--country", type=TEXT, help="Release country code, e.g. GB.")
    @click.option("--year-from", type=int, help="Released in or after this year.")
    @click.option("--year-to", type=int, help="Released in or before this year.")
    @click.option("--label", help="Label MBID.")
    @click.option("--artist", help="Artist MBID.")
    @click.option("--status", "statuses", type=TEXT, multiple=True, help="Release status, e.g. Bootleg (repeatable).")
    @click.option("--curation", multiple=True, type=click.Choice(CURATION_STATES),
                  help="Curation state (repeatable); default: all but ignored and preserved.")
    @click.option("--limit", type=click.IntRange(1, MAX_ROWS), default=50, show_default=True)
    @click.option("--sort", type=click.Choice(SORTS), default="score", show_default=True)
    @functools.wraps(fn)
    def wrapper(*args, min_score, formats, country, year_from, year_to, label, artist, statuses, curation,
                limit, sort, **kwargs):
        from .curate import Filters

        label_id, artist_id = (_validate_mbids([v])[0] if v is not None else None for v in (label, artist))
        filters = Filters(min_score=min_score, formats=formats, country=country, year_from=year_from,
                          year_to=year_to, label=label_id, artist=artist_id, statuses=statuses,
                          curation=curation, limit=limit, sort=sort)
        return fn(*args, filters=filters, **kwargs)

    return wrapper


@cli.command("score")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="Scoring policy (TOML).")
@click.option("--changed", is_flag=True, help="Only releases changed since they were last scored.")
@pass_app
def score_cmd(app: App, policy_file, changed):
    """Compute the at-risk score of every release (set-based, in the database)."""
    from .risk import run_score

    policy = _policy(policy_file)
    result = run_score(app.db(), policy, changed_only=changed)
    click.echo(f"run {result.run_id}: scored {result.scored} release(s) with policy {result.policy_version} "
               f"in {result.seconds:.1f}s")


@cli.command("flagged")
@_filter_options
@output_option
@pass_app
def flagged_cmd(app: App, filters, output):
    """The worklist of at-risk releases, most at risk first."""
    from .curate import flagged

    with app.db().session() as s:
        rows = flagged(s, filters)
    cols = ["mbid", "score", "title", "artist", "date", "country", "formats", "status", "curation", "signals"]
    click.echo(render(rows, output, columns=cols))


@cli.command("show")
@click.argument("mbid")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="Policy for the explanations.")
@output_option
@pass_app
def show_cmd(app: App, mbid, policy_file, output):
    """One release in full: media, tracks, labels, links, score with explanations, curation, revisions."""
    from .curate import NotFoundError, show

    (mbid,) = _validate_mbids([mbid])
    policy = _policy(policy_file)
    with app.db().session() as s:
        try:
            info = show(s, mbid, policy)
        except NotFoundError as exc:
            raise UserError(str(exc), EXIT_FAILURE) from None
    if output != "table":
        click.echo(render([info], output))
        return
    from .curate import format_show

    click.echo(format_show(info))


@cli.command("mark")
@click.argument("mbids", nargs=-1, required=True)
@click.option("--status", required=True, type=click.Choice(("open", "in-progress", "preserved", "ignored")))
@click.option("--note", type=TEXT, help="Free text kept with the mark.")
@click.option("--by", "marked_by", type=TEXT, help="Who marks (default: $USER).")
@pass_app
def mark_cmd(app: App, mbids, status, note, marked_by):
    """Record a curation mark on releases (history is kept)."""
    import os

    from .curate import NotFoundError, mark

    ids = _validate_mbids(mbids)
    marked_by = marked_by or os.environ.get("USER") or None
    try:
        with app.db().session() as s, s.begin():
            done = mark(s, ids, status, note, marked_by)
    except NotFoundError as exc:
        raise UserError(str(exc), EXIT_FAILURE) from None
    for row in done:
        via = f" (merged from {row['requested']})" if str(row["requested"]) != str(row["mbid"]) else ""
        click.echo(f"{row['mbid']}{via}: {status}")


@cli.command("export")
@click.option("--format", "fmt", type=click.Choice(("csv", "json")), default="csv", show_default=True)
@click.option("--output", "out_file", type=click.Path(dir_okay=False, writable=True), help="File (default: stdout).")
@click.option("--min-score", type=click.IntRange(0, 100))
@click.option("--medium-format", "formats", type=TEXT, multiple=True, help="Medium format, e.g. Cassette (repeatable).")
@click.option("--country", type=TEXT)
@click.option("--year-from", type=int)
@click.option("--year-to", type=int)
@click.option("--label", help="Label MBID.")
@click.option("--artist", help="Artist MBID.")
@click.option("--status", "statuses", type=TEXT, multiple=True)
@click.option("--curation", multiple=True, type=click.Choice(("open", "in-progress", "preserved", "ignored")))
@click.option("--limit", type=click.IntRange(1, MAX_ROWS), default=None, help="Default: no limit.")
@click.option("--sort", type=click.Choice(("score", "date", "title")), default="score", show_default=True)
@pass_app
def export_cmd(app: App, fmt, out_file, min_score, formats, country, year_from, year_to, label, artist, statuses,
               curation, limit, sort):
    """Write the worklist to a CSV or JSON file to share, with MusicBrainz links."""
    from .curate import Filters, export_rows

    label_id, artist_id = (_validate_mbids([v])[0] if v is not None else None for v in (label, artist))
    filters = Filters(min_score=min_score, formats=formats, country=country, year_from=year_from, year_to=year_to,
                      label=label_id, artist=artist_id, statuses=statuses, curation=curation, limit=limit, sort=sort)
    with app.db().session() as s:
        rows = export_rows(s, filters)
    cols = ["mbid", "url", "score", "title", "artist", "date", "country", "formats", "status", "curation", "signals"]
    text_out = render(rows, fmt, columns=cols) + "\n"
    if out_file:
        _write(out_file, text_out)
        app.note(f"wrote {len(rows)} release(s) to {out_file}")
    else:
        click.echo(text_out, nl=False)


@cli.command("report")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, writable=True), help="Write an HTML report here.")
@click.option("--top", type=click.IntRange(1, MAX_ROWS), default=10, show_default=True)
@pass_app
def report_cmd(app: App, html_file, top):
    """Summary of the mirror and its risks; --html adds a self-contained page with charts."""
    from .report import collect, render_html, render_text

    with app.db().session() as s:
        data = collect(s, top=top)
    click.echo(render_text(data))
    if html_file:
        _write(html_file, render_html(data))
        app.note(f"wrote {html_file}")


def _write(path: str, text_out: str) -> None:
    try:
        Path(path).write_text(text_out, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}", EXIT_USAGE) from None


def main(argv=None):
    try:
        cli.main(args=argv, prog_name="mbindex", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
