"""Alembic migrations and the models agree, and the schema can go down and up."""

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from indexer.db import Database, DatabaseError
from indexer.db.models import Base


# Alembic's autogenerate cannot compare a generated column's expression and says so for each
# (UserWarning "Computed default on release.title_words cannot be modified"): such a column is
# compared by name, type and nullability, not by its expression
@pytest.mark.filterwarnings("ignore:Computed default on .* cannot be modified:UserWarning")
def test_models_match_migrations(db):
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_linear_history_single_head(db):
    script = ScriptDirectory.from_config(db.alembic_config())
    assert len(script.get_heads()) == 1
    bases = script.get_bases()
    assert len(bases) == 1


def test_the_declared_head_is_alembics_and_the_revision_is_read_as_alembic_reads_it(db):
    """migrations.HEAD (read at every start instead of the scripts) must name
    Alembic's head: a new migration that forgets it fails here."""
    script = ScriptDirectory.from_config(db.alembic_config())
    assert db.head_revision() == script.get_current_head()
    with db.engine.connect() as conn:
        assert db.current_revision() == MigrationContext.configure(conn).get_current_revision() == db.head_revision()


def test_empty_database_is_migrated_on_first_use(empty_database_url):
    database = Database(empty_database_url)
    try:
        assert database.current_revision() is None
        database.ensure_schema()
        assert database.current_revision() == database.head_revision()
        tables = set(inspect(database.engine).get_table_names())
        assert {"release", "medium", "track", "document_revision", "sync_run", "redirect"} <= tables
    finally:
        database.dispose()


def test_downgrade_to_base_and_up_again(db):
    db.downgrade("base")
    assert db.current_revision() is None
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    db.upgrade("head")
    assert db.current_revision() == db.head_revision()


def test_outdated_schema_is_refused(db):
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'someoldrev'"))
    try:
        db.ensure_schema()
    except DatabaseError as exc:
        assert "mbindex db upgrade" in str(exc)
    else:
        raise AssertionError("an outdated schema must be refused")


def test_foreign_tables_are_not_touched(empty_database_url):
    database = Database(empty_database_url)
    try:
        with database.engine.begin() as conn:
            conn.execute(text("CREATE TABLE someone_elses (id int)"))
        try:
            database.ensure_schema()
        except DatabaseError as exc:
            assert "refusing" in str(exc)
        else:
            raise AssertionError("a database with other tables must not be migrated silently")
    finally:
        database.dispose()


def test_upgrading_a_mirror_keeps_its_documents(empty_database_url):
    """0002 turns document_revision.doc from jsonb into json; the documents of
    a mirror made before survive the upgrade and a downgrade, equal."""

    database = Database(empty_database_url)
    doc = {"id": "8f8f5e21-0000-4000-8000-000000000001", "title": "Señal 日本", "media": [{"position": 1}],
           "barcode": None, "nested": {"b": 2, "a": [1, 2.5, True]}}
    try:
        database.upgrade("0001")
        with database.engine.begin() as conn:
            conn.execute(text("INSERT INTO document_revision (entity_type, mbid, hash, doc, source) "
                              "VALUES ('release', :m, 'h', CAST(:d AS jsonb), 'api')"),
                         {"m": doc["id"], "d": json.dumps(doc)})
        database.upgrade("head")
        with database.engine.connect() as conn:
            assert conn.execute(text("SELECT pg_typeof(doc)::text, doc FROM document_revision")).one() == ("json", doc)
        database.downgrade("0001")
        with database.engine.connect() as conn:
            assert conn.execute(text("SELECT pg_typeof(doc)::text, doc FROM document_revision")).one() == ("jsonb", doc)
    finally:
        database.dispose()


def test_0012_fills_barcode_gtin_for_stored_releases_as_the_mapping_computes_it(db):
    """A mirror stored before 0012 gets release.barcode_gtin from the same rule
    the mapping applies to releases stored from then on (values.gtin_ok)."""
    from indexer.mapping.values import gtin_ok

    barcodes = [None, "", "4006381333931", "4006381333932", "036000291452", "03600029145", "96385074",
                "00012345600012", "123", "12345678901234567", "ABCDEFGHIJKLM", "none", "4006381333931 "]
    db.downgrade("0011")
    with db.engine.begin() as conn:
        for i, barcode in enumerate(barcodes):
            conn.execute(text("INSERT INTO release (mbid, title, barcode, medium_count, track_count) "
                              "VALUES (:m, 't', :b, 0, 0)"),
                         {"m": f"00000000-0000-4000-8000-{i:012d}", "b": barcode})
    db.upgrade("head")
    with db.engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT barcode, barcode_gtin FROM release WHERE barcode IS NOT NULL")).all())
    assert stored == {b: gtin_ok(b) for b in barcodes if b is not None}
    assert stored["4006381333931"] is True and stored["4006381333932"] is False and stored[""] is None
