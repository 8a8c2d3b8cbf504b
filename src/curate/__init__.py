"""curate: batch data curation for the text that trains language models."""

__version__ = "0.1.0"
