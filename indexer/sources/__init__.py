"""Where upstream data comes from: the ws/2 client (`ws2`), the JSON data
dump reader (`dump_files`), and a local ws/2 replay server (`replay`) for
the demo and the tests.  Sources parse and hand on documents; they never
touch the database."""
