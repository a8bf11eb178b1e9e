"""mbindex: a MusicBrainz mirror that flags releases at risk of being lost."""

__version__ = "0.1.0"
