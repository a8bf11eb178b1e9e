"""`python -m indexer`: the same as the `mbindex` command."""

from .cli import main

main()
