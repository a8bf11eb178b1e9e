"""The mirror's schema.

Entity tables hold the *current* state, flattened for querying; the raw ws/2
documents live in `document_revision` (one row per distinct payload ever
seen) so nothing upstream sent is ever lost.  Nothing is deleted: upstream
deletions set `deleted_at`, merges add a `redirect` row.

Top-level entities are linked by MBID without foreign keys on purpose: a
mirror is always partial (a release may arrive before its artist is fetched,
a dump may be imported entity by entity).  Child rows of a release (media,
tracks, labels) do use foreign keys, since they are written with it.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSON, JSONB, TSVECTOR, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Timestamp = DateTime(timezone=True)


#: accented Latin letters (both cases: lower() leaves them alone under the C
#: locale) and what `folded` makes of them; ligatures are spelled out after
FOLD_FROM = ("ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪī"
             "ĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩ"
             "ǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳĐđĦħıŁłØøŦŧÐðÆŒẞÞ")
FOLD_TO = ("aaaaaaceeeeiiiinooooouuuuyaaaaaaceeeeiiiinooooouuuuyyaaaaaaccccccccddeeeeeeeeeegggggggghhiiiiii"
           "iiijjkkllllllnnnnnnoooooorrrrrrssssssssttttuuuuuuuuuuuuwwyyyzzzzzzsoouuaaiioouuuuuuuuuuaaaaggkk"
           "oooojggnnaaaaaaeeeeiiiioooorrrruuuusstthhaaeeooooooooyyddhhilloottddæœßþ")


def folded(expr: str) -> str:
    """SQL of `expr` lowercased with accents and ligatures folded ("Éditions
    Œuvre" → "editions oeuvre"): IMMUTABLE (lower, translate, replace), so a
    generated column and the search parameter go through the very same
    expression.  Not `unaccent`: an extension a server may lack, and only STABLE."""
    out = f"translate(lower({expr}), '{FOLD_FROM}', '{FOLD_TO}')"
    for a, b in (("æ", "ae"), ("œ", "oe"), ("ß", "ss"), ("þ", "th")):
        out = f"replace({out}, '{a}', '{b}')"
    return out


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        uuid.UUID: UUID(as_uuid=True),
        dt.datetime: Timestamp,
        dict: JSONB,
        str: Text,
    }


class SeenMixin:
    """When we first saw the entity upstream, when its row was last written
    from a document, and whether it is gone.  When it was last *seen*
    upstream is its document's `last_seen` (rule 1 moves only that)."""

    first_seen: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    last_seen: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    deleted_at: Mapped[dt.datetime | None]  # tombstone: gone upstream, kept here


class NamedMixin(SeenMixin):
    """Columns artists and labels share."""

    mbid: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str]
    sort_name: Mapped[str | None]
    type: Mapped[str | None]
    country: Mapped[str | None]
    disambiguation: Mapped[str | None]


class TitledMixin(SeenMixin):
    """Columns release groups and recordings share."""

    mbid: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    title: Mapped[str]
    artist_credit: Mapped[str | None]
    disambiguation: Mapped[str | None]
    first_release_date: Mapped[str | None]


class Artist(NamedMixin, Base):
    __tablename__ = "artist"


class Label(NamedMixin, Base):
    __tablename__ = "label"
    label_code: Mapped[int | None]


class ReleaseGroup(TitledMixin, Base):
    __tablename__ = "release_group"
    primary_type: Mapped[str | None]
    secondary_types: Mapped[list[str] | None] = mapped_column(ARRAY(Text))


class Recording(TitledMixin, Base):
    __tablename__ = "recording"
    length_ms: Mapped[int | None]
    video: Mapped[bool | None]


class Release(SeenMixin, Base):
    __tablename__ = "release"
    mbid: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    title: Mapped[str]
    artist_credit: Mapped[str | None]
    release_group_mbid: Mapped[uuid.UUID | None] = mapped_column(index=True)
    status: Mapped[str | None]
    quality: Mapped[str | None]
    date: Mapped[str | None]  # partial dates as given: "2003", "2003-03", "2003-03-24"
    year: Mapped[int | None] = mapped_column(SmallInteger, index=True)
    country: Mapped[str | None]
    # None = unknown (ws/2 null), "" = explicitly no barcode
    barcode: Mapped[str | None]
    # the barcode reads as a UPC/EAN (mapping.values.gtin_ok); None: no barcode (0012)
    barcode_gtin: Mapped[bool | None]
    packaging: Mapped[str | None]
    language: Mapped[str | None]
    script: Mapped[str | None]
    disambiguation: Mapped[str | None]
    asin: Mapped[str | None]
    annotation: Mapped[str | None]
    # None = the document did not say (cover-art-archive not included)
    cover_art_front: Mapped[bool | None]
    cover_art_count: Mapped[int | None]
    # the Cover Art Archive took the art down (cover-art-archive.darkened)
    cover_art_darkened: Mapped[bool | None]
    medium_count: Mapped[int] = mapped_column(SmallInteger, default=0)
    track_count: Mapped[int] = mapped_column(Integer, default=0)
    formats: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    # which ws/2 includes the stored document carried: absence only means
    # something when the include was asked for (e.g. no url-rels)
    includes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    # which of mapping.DOCUMENT_FIELDS the stored document carried (a search hit
    # lacks quality, and barcode or status when unset): a signal reading an
    # absent field is not assessed (0008)
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    deleted_reason: Mapped[str | None]
    needs_score: Mapped[bool] = mapped_column(server_default=text("true"))
    # the title's words, case- and accent-folded, for the worklist's title search
    title_words: Mapped[str | None] = mapped_column(
        TSVECTOR, Computed(f"to_tsvector('simple'::regconfig, {folded('title')})", persisted=True), deferred=True)

    media: Mapped[list[Medium]] = relationship(
        back_populates="release", order_by="Medium.position", cascade="all, delete-orphan", passive_deletes=True
    )
    labels: Mapped[list[ReleaseLabel]] = relationship(
        order_by="ReleaseLabel.position", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (Index("ix_release_needs_score", "needs_score", postgresql_where=text("needs_score")),
                      Index("ix_release_title_words", "title_words", postgresql_using="gin"))


class Medium(Base):
    __tablename__ = "medium"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    release_mbid: Mapped[uuid.UUID] = mapped_column(ForeignKey("release.mbid", ondelete="CASCADE"))
    position: Mapped[int]
    mbid: Mapped[uuid.UUID | None]
    format: Mapped[str | None]
    title: Mapped[str | None]
    track_count: Mapped[int] = mapped_column(default=0)

    release: Mapped[Release] = relationship(back_populates="media")
    tracks: Mapped[list[Track]] = relationship(
        order_by="Track.sort_key", cascade="all, delete-orphan", passive_deletes=True
    )
    __table_args__ = (UniqueConstraint("release_mbid", "position", name="uq_medium_release_position"),)


class Track(Base):
    __tablename__ = "track"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    medium_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("medium.id", ondelete="CASCADE"), index=True)
    # no foreign key of its own: the medium's cascades already, and it was
    # checked once for every track loaded
    release_mbid: Mapped[uuid.UUID] = mapped_column(index=True)
    mbid: Mapped[uuid.UUID | None] = mapped_column(index=True)
    # "pregap" (hidden track before track 1), "audio", or "data" (enhanced CD data track)
    kind: Mapped[str] = mapped_column(server_default="audio")
    position: Mapped[int]
    sort_key: Mapped[int]  # pregap < audio < data, then position
    number: Mapped[str | None]
    title: Mapped[str | None]
    length_ms: Mapped[int | None]
    recording_mbid: Mapped[uuid.UUID | None] = mapped_column(index=True)
    artist_credit: Mapped[str | None]


class ReleaseLabel(Base):
    """A label + catalogue number pair of a release (either may be missing)."""

    __tablename__ = "release_label"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    release_mbid: Mapped[uuid.UUID] = mapped_column(ForeignKey("release.mbid", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    label_mbid: Mapped[uuid.UUID | None] = mapped_column(index=True)
    label_name: Mapped[str | None]
    catalog_number: Mapped[str | None]
    # the name case- and accent-folded: the worklist's label filter is a prefix of it
    label_name_key: Mapped[str | None] = mapped_column(Computed(folded("label_name"), persisted=True))
    __table_args__ = (Index("ix_release_label_name_key", "label_name_key",
                            postgresql_ops={"label_name_key": "text_pattern_ops"}),)


class ArtistCredit(Base):
    """One credited name of a release, release group or recording."""

    __tablename__ = "artist_credit"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    entity_type: Mapped[str]
    entity_mbid: Mapped[uuid.UUID]
    position: Mapped[int]
    artist_mbid: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str | None]
    joinphrase: Mapped[str | None]
    # the credited name case- and accent-folded: the worklist's artist filter is a prefix of it
    name_key: Mapped[str | None] = mapped_column(Computed(folded("name"), persisted=True))
    __table_args__ = (Index("ix_artist_credit_entity", "entity_type", "entity_mbid"),
                      Index("ix_artist_credit_name_key", "name_key", postgresql_ops={"name_key": "text_pattern_ops"},
                            postgresql_where=text("entity_type = 'release'")))


class UrlRelation(Base):
    __tablename__ = "url_relation"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    entity_type: Mapped[str]
    entity_mbid: Mapped[uuid.UUID]
    position: Mapped[int]
    url: Mapped[str]
    url_mbid: Mapped[uuid.UUID | None]
    type: Mapped[str | None]
    type_id: Mapped[uuid.UUID | None]
    direction: Mapped[str | None]
    begin: Mapped[str | None]
    end: Mapped[str | None]
    ended: Mapped[bool | None]
    __table_args__ = (Index("ix_url_relation_entity", "entity_type", "entity_mbid"),)


class Tag(Base):
    __tablename__ = "tag"
    entity_type: Mapped[str] = mapped_column(primary_key=True)
    entity_mbid: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(primary_key=True)
    count: Mapped[int | None]


class DocumentRevision(Base):
    """Every distinct raw ws/2 / dump document ever seen for an entity."""

    __tablename__ = "document_revision"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    entity_type: Mapped[str]
    mbid: Mapped[uuid.UUID]
    hash: Mapped[str]  # sha256 of the canonical JSON (sorted keys, compact)
    # json, not jsonb: a dump line is kept byte for byte (key order, spacing
    # and all), and validating it costs a fraction of building a jsonb tree
    doc: Mapped[dict] = mapped_column(JSON)
    source: Mapped[str]  # "api" or "dump:<archive>"
    first_seen: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    # while current, the document's last_seen is the later one (store.revisions.REVISION_LAST_SEEN)
    last_seen: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    sync_run_id: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (UniqueConstraint("entity_type", "mbid", "hash", name="uq_document_revision_entity_hash"),)


class Document(Base):
    """The current raw document of an entity: a pointer to its latest revision."""

    __tablename__ = "document"
    # also: fillfactor 50, set by migration 0011 (SQLAlchemy declares no table storage parameters): a refresh
    # moves last_seen of every row, and with room on the same page that is a HOT update (no index entry
    # written) instead of a row moved elsewhere
    __table_args__ = (Index("ix_document_raw_hash", "raw_hash", postgresql_where=text("raw_hash IS NOT NULL")),)
    entity_type: Mapped[str] = mapped_column(primary_key=True)
    mbid: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    revision_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("document_revision.id"))
    hash: Mapped[str]
    revision_count: Mapped[int] = mapped_column(server_default=text("1"))
    first_seen: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    # when the entity was last seen upstream, in any version: the one column rule 1 moves (store.revisions)
    last_seen: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    deleted_at: Mapped[dt.datetime | None]
    # the raw dump line of the current revision (mapping.values.raw_hash), NULL if it came from a lookup:
    # a refresh skips a line with these bytes before parsing it (store.raw_lines)
    raw_hash: Mapped[bytes | None]

    revision: Mapped[DocumentRevision] = relationship()


class Redirect(Base):
    """An MBID that MusicBrainz merged into another one."""

    __tablename__ = "redirect"
    entity_type: Mapped[str] = mapped_column(primary_key=True)
    old_mbid: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    new_mbid: Mapped[uuid.UUID] = mapped_column(index=True)
    first_seen: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    sync_run_id: Mapped[int | None] = mapped_column(BigInteger)


class SyncRun(Base):
    """One run of sync / import / score, with its counters and checkpoint."""

    __tablename__ = "sync_run"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str]  # sync | import | enrich | score | update (options.children: its runs)
    scope: Mapped[str | None]  # release | artist | label | release-group | collection | query | watched | dump
    target: Mapped[str | None]
    started_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(server_default="running")  # running|ok|partial|failed|interrupted
    requests: Mapped[int] = mapped_column(server_default=text("0"))
    inserted: Mapped[int] = mapped_column(server_default=text("0"))
    updated: Mapped[int] = mapped_column(server_default=text("0"))
    unchanged: Mapped[int] = mapped_column(server_default=text("0"))
    tombstoned: Mapped[int] = mapped_column(server_default=text("0"))
    redirected: Mapped[int] = mapped_column(server_default=text("0"))
    quarantined: Mapped[int] = mapped_column(server_default=text("0"))
    # lookups a scope walk made because a browse item lacked an include (0004)
    fallback_lookups: Mapped[int] = mapped_column(server_default=text("0"))
    # search hits `sync query` did not look up: fetched within query_max_age (0004)
    skipped: Mapped[int] = mapped_column(server_default=text("0"))
    error: Mapped[str | None]
    checkpoint: Mapped[dict | None]
    options: Mapped[dict | None]
    pid: Mapped[int | None]


class Watch(Base):
    """A scope a librarian wants synced on every scheduled run."""

    __tablename__ = "watch"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    scope: Mapped[str]
    target: Mapped[str]
    note: Mapped[str | None]
    added_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    last_run_id: Mapped[int | None] = mapped_column(BigInteger)
    last_synced_at: Mapped[dt.datetime | None]
    cursor: Mapped[dict | None]  # where an unfinished walk of this scope resumes
    __table_args__ = (UniqueConstraint("scope", "target", name="uq_watch_scope_target"),)


class ScopeMember(Base):
    """Which releases a fully walked scope contained, to notice disappearances."""

    __tablename__ = "scope_member"
    scope: Mapped[str] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(primary_key=True)
    release_mbid: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    first_seen: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    last_seen: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    last_run_id: Mapped[int | None] = mapped_column(BigInteger)


class RiskScore(Base):
    __tablename__ = "risk_score"
    release_mbid: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    score: Mapped[int] = mapped_column(SmallInteger)
    signals: Mapped[list[str]] = mapped_column(ARRAY(Text))
    policy_version: Mapped[str]
    scored_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    # a copy of curation_state.status (NULL: never marked), kept by `mark` and
    # `score`, so that a worklist of one curation state walks an index in score
    # order instead of probing every marked release
    curation: Mapped[str | None]
    # signals of the policy that could not be assessed: an input they read was
    # not fetched (an include, an upstream fact) or the document lacks its field (0008)
    not_assessed: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")

    # both in the worklist's order (score descending, then MBID: `curation.FLAGGED_ORDER`),
    # so its first page is read off the index, not sorted out of every score (0013)
    __table_args__ = (
        Index("ix_risk_score_rank", text("score DESC"), "release_mbid"),
        Index("ix_risk_score_curation", "curation", text("score DESC"), "release_mbid",
              postgresql_where=text("curation IS NOT NULL")),
    )


class RiskPolicy(Base):
    """The full text of every scoring policy a score was computed with: each
    risk_score row is explained by the policy of its `policy_version`, never
    by whatever file is at hand (0008).  One text per version."""

    __tablename__ = "risk_policy"
    version: Mapped[str] = mapped_column(primary_key=True)
    sha256: Mapped[str]
    text: Mapped[str]
    first_used: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class UpstreamFact(Base):
    """One number scoring needs from outside the mirror, with where and when it came from.

    `subject_type`/`subject_mbid`: the release group or artist it is about;
    `fact`: editions (releases in the group), release_groups (the artist's
    catalogue), listens / listeners (ListenBrainz).  `value` NULL with a row
    present means the source answered and has no figure (ListenBrainz `null`:
    no listens known); no row at all means the fact is unknown (not fetched).
    `source`: "ws/2 browse", "ws/2 search", "listenbrainz", "dump:<file>".
    """

    __tablename__ = "upstream_fact"
    subject_type: Mapped[str] = mapped_column(primary_key=True)
    subject_mbid: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    fact: Mapped[str] = mapped_column(primary_key=True)
    value: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str]
    fetched_at: Mapped[dt.datetime] = mapped_column(server_default=func.now(), index=True)
    sync_run_id: Mapped[int | None] = mapped_column(BigInteger)


class CurationMark(Base):
    """History of archivists' marks; never updated, only appended."""

    __tablename__ = "curation_mark"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    release_mbid: Mapped[uuid.UUID]
    status: Mapped[str]  # open | in-progress | preserved | ignored
    note: Mapped[str | None]
    marked_by: Mapped[str | None]
    marked_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    __table_args__ = (Index("ix_curation_mark_release", "release_mbid", "marked_at"),)


class Curator(Base):
    """Someone who marks releases in `serve`, known by a token of their own.
    Only the token's SHA-256 is kept: the token is shown once, at `curator add`."""

    __tablename__ = "curator"
    name: Mapped[str] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(unique=True)
    added_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class CurationState(Base):
    """The latest mark of each release, kept beside the history for fast filters."""

    __tablename__ = "curation_state"
    release_mbid: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(index=True)
    mark_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("curation_mark.id"))


class DumpImport(Base):
    """One dump file being imported, with its resume checkpoint."""

    __tablename__ = "dump_import"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    path: Mapped[str]
    member: Mapped[str]  # the file inside the archive ("" for a plain file)
    entity: Mapped[str]
    fingerprint: Mapped[str]  # "sha256:" + hash of the whole file, to recognise the same file
    started_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(server_default="running")
    lines_done: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    quarantined: Mapped[int] = mapped_column(server_default=text("0"))
    sync_run_id: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (UniqueConstraint("fingerprint", "member", "entity", name="uq_dump_import_file"),)


class Quarantine(Base):
    """Input we could not use, kept verbatim so nothing is lost."""

    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    source: Mapped[str]  # file (and member) or URL
    line_no: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str]
    # the input byte for byte; of an over-long dump line only its first KB,
    # with where the whole line is (byte offset in `source`) and its length
    raw: Mapped[bytes | None]
    raw_offset: Mapped[int | None] = mapped_column(BigInteger)
    raw_length: Mapped[int | None] = mapped_column(BigInteger)
    sync_run_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
