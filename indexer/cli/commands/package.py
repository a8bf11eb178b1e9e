"""`mbindex package [MBID...] [filters] --to DIR [--force]`: a BagIt bag with
PREMIS records; `mbindex package --validate DIR` checks one."""

from __future__ import annotations

from contextlib import closing

import click

from ... import __version__
from ...analysis.curation import Filters
from ...analysis.preservation import Selection, release_records
from ...analysis.risk import load_policy
from ...clock import now
from ...output.bag import BagInvalid, validate_bag, write_bag
from ...output.tables import terminal_safe
from ..app import EXIT_USAGE, App, UserError, pass_app
from ..options import MBID, filter_options

#: problems `package --validate --verbose` lists after the summary line
MAX_DETAILS = 20


def _validate(path: str, verbose: bool) -> None:
    """One line: valid, or the first problem and how many more; with
    `verbose`, up to MAX_DETAILS problems on stderr before it."""
    try:
        result = validate_bag(path)
    except BagInvalid as exc:
        for line in exc.details[:MAX_DETAILS] if verbose else ():
            click.echo(terminal_safe(f"  {line}"), err=True)
        raise
    click.echo(f"{path}: valid bag, {result['files']} payload file(s), Payload-Oxum {result['oxum']}")


@click.command("package")
@click.argument("mbids", nargs=-1, type=MBID)
@click.option("--to", "to", type=click.Path(file_okay=False), metavar="DIR",
              help="Where to write the bag (must not exist unless --force).")
@click.option("--force", is_flag=True, help="Replace DIR if it exists (only once the new bag is complete).")
@click.option("--validate", "validate", type=click.Path(file_okay=False), metavar="DIR",
              help="Validate the bag at DIR (completeness and every checksum) instead of writing one.")
@click.option("--verbose", is_flag=True, help=f"--validate: list the problems (up to {MAX_DETAILS}).")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="Policy for the signal explanations.")
@filter_options(default_limit=None)
@pass_app
def package_cmd(app: App, mbids, to, force, validate, verbose, policy_file, filters):
    """A preservation package (BagIt + PREMIS 3) of the given releases, or of
    the worklist's releases selected as `flagged` and `export` do."""
    if validate is not None:
        if to is not None or mbids:
            raise UserError("--validate DIR checks an existing bag: give no MBIDs and no --to", EXIT_USAGE)
        _validate(validate, verbose)
        return
    if to is None:
        raise UserError("give the bag's directory with --to DIR (or check one with --validate DIR)", EXIT_USAGE)
    if mbids and filters != Filters(limit=None):
        raise UserError("choose the releases by MBID or by filters, not both", EXIT_USAGE)
    selection = Selection(mbids=tuple(mbids), filters=filters)
    policy = load_policy(policy_file)
    db = app.db()
    with closing(release_records(db, selection, policy, documents=True)) as records:  # ends its queries on error
        counts = write_bag(to, records, version=__version__, organization=app.settings().source_organization,
                           selection=selection.describe(), bagged_at=now(), force=force)
    app.note(f"wrote bag {to}: {counts['releases']} release(s), {counts['revisions']} revision(s)")
