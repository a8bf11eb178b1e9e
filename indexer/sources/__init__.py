"""Where upstream data comes from: the ws/2 client (`ws2`, with `includes`
telling what each include puts in a release), ListenBrainz popularity
(`listenbrainz`), the JSON data dump reader (`dump_files`), and a local ws/2
and ListenBrainz replay server (`replay`, `replay_counts`) for the demo and
the tests.  Sources parse and hand on documents; they never touch the
database."""
