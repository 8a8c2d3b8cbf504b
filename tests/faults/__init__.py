"""Bad-input corpora for robustness tests, built in code (nothing binary is checked in)."""
