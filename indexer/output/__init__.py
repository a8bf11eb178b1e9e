"""Results out of the mirror, for people and tools: aligned tables, CSV,
JSON and NDJSON (`tables`) and files written whole or not at all (`files`)."""
