"""`mbindex demo`'s bundled data and server: real ws/2 release lookups
recorded from musicbrainz.org (`release/<mbid>.json`, package data, sources
in SOURCES.md) and `server.ReplayServer`, a local HTTP server that answers
ws/2 lookups with them where musicbrainz.org is out of reach.

The tests extend that server with browses, searches, counts, the
ListenBrainz route and fault injection (`tests/replay_server.py`); nothing
here imports test code."""
