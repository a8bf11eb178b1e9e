"""Pipelines that bring upstream data into the mirror: ws/2 syncs (releases,
scopes, searches, the watchlist) and the dump import.  Each step of a
pipeline is a function of its own; each pipeline records itself as a run."""
