"""PII detection and redaction for the ``pii`` stage (``stages/pii.py``).

- :mod:`curate.pii.validators`: checksums and look-alike tests (Luhn, issuer prefixes, IBAN
  mod-97, Shannon entropy, JWT headers, routable IP addresses, known TLDs).
- :mod:`curate.pii.detectors`: one detector per type. Each has a candidate prefilter in Rust
  regex syntax that Polars runs over a whole batch (which documents can hold the type at all),
  and a Python scan with a validator that runs only on those documents.
- :mod:`curate.pii.policies`: what happens to a found span (placeholder, keyed pseudonym, mask).
- ``data/``: the TLD list (package data, source and licence in ``data/NOTICE.md``).

Standard library, polars and numpy only, except phone numbers (``phonenumbers``, imported when
a phone detector is built).
"""
