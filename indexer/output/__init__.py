"""Results out of the mirror, for people and tools: aligned tables, CSV,
JSON and NDJSON (`tables`), files written whole or not at all (`files`),
BagIt packages with PREMIS records (`bag`, `premis`) and MARC 21 records
(`marc`)."""
