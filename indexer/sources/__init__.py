"""Where upstream data comes from: the ws/2 client (`ws2`, with `includes`
telling what each include puts in a release), ListenBrainz popularity
(`listenbrainz`) and the JSON data dump reader (`dump_files`).  Sources
parse and hand on documents; they never touch the database.  (The demo's
local ws/2 server is `indexer.demo.server`; the tests' is in tests/.)"""
