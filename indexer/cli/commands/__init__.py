"""One module per command family; `indexer.cli` registers them."""
