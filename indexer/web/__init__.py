"""The curators' web front end: the worklist, each release's evidence, and
marking, served by `mbindex serve`.

Like the CLI it is a front end only: data comes from `indexer.analysis`
and `indexer.runs`; it imports neither the models nor SQLAlchemy and writes
no SQL.  `app` builds the Starlette application, `routes` holds the pages,
`params` turns query parameters into `Filters`, `security` the token gate
and CSRF, `bind` the bind-address rule (light enough for the CLI to import),
`server` runs uvicorn.  Nothing is imported here so that `bind` stays cheap.
"""
