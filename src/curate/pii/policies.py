"""What happens to a found span: a placeholder, a keyed pseudonym, a mask, or nothing.

``drop_document`` and ``tag_only`` leave the text as it is (the stage routes or counts); the
others replace the span. The pseudonym key is bytes held in memory only: it never enters a
config, a fingerprint (only :func:`key_id`, an HMAC of a constant) or a message.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from typing import Literal

from curate.errors import ConfigError

Policy = Literal["placeholder", "pseudonym", "mask", "drop_document", "tag_only"]
POLICIES: tuple[str, ...] = ("placeholder", "pseudonym", "mask", "drop_document", "tag_only")
REWRITING = frozenset({"placeholder", "pseudonym", "mask"})
"""Policies that change the text."""

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def read_key(env: str, *, where: str = "pii.pseudonym_key_env") -> bytes:
    """The pseudonym key from environment variable ``env``; a ConfigError when unset or empty.

    The message names the variable, never a value.
    """
    value = os.environ.get(env)
    if not value:
        raise ConfigError(
            f"environment variable {env} ({where}) is not set or empty; the pseudonym policy needs a secret key",
            hint=f"export {env}=<a long random secret> (the same key gives the same pseudonyms across runs), "
            "or use another policy",
        )
    return value.encode("utf-8")


def key_id(key: bytes) -> str:
    """A short identifier of a key for fingerprints: HMAC-SHA256 of a constant under the key.

    Another key gives another id (so a resumed run never reuses pseudonyms made with another
    key); the key cannot be recovered from it.
    """
    return hmac.new(key, b"curate pii key id", hashlib.sha256).hexdigest()[:16]


def pseudonym(key: bytes, kind: str, value: str, length: int) -> str:
    """Hex digest (``length`` characters) of HMAC-SHA256 over ``kind`` and the normalised value."""
    return hmac.new(key, f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()[:length]


def mask(value: str, char: str) -> str:
    """Same length: every letter and digit becomes ``char``; separators (``@ . - space``) stay."""
    return "".join(char if ch.isalnum() else ch for ch in value)


def check_format(fmt: str, *, needs_hash: bool) -> str:
    """A placeholder format: ``{TYPE}``, ``{type}`` and (pseudonyms) ``{hash}`` fields only."""
    try:
        out = fmt.format(TYPE="EMAIL", type="email", hash="0123abcd")
    except (KeyError, IndexError, ValueError, AttributeError) as err:
        raise ValueError(
            f"invalid format {fmt!r} ({type(err).__name__}: {err}); fields are {{TYPE}}, {{type}}"
            + (" and {hash}" if needs_hash else "")
        ) from None
    if needs_hash and "0123abcd" not in out:
        raise ValueError(f"format {fmt!r} must contain {{hash}}")
    if not needs_hash and "0123abcd" in out:
        raise ValueError(f"format {fmt!r}: {{hash}} is for pseudonym_format only")
    return fmt


class Redactor:
    """Replacement text per span, by its type's policy (built once per stage)."""

    def __init__(
        self,
        policies: dict[str, str],
        *,
        placeholder: str,
        pseudonym_format: str,
        pseudonym_length: int,
        mask_char: str,
        key: bytes | None,
    ) -> None:
        self.policies = policies
        self.pseudonym_format = pseudonym_format
        self.pseudonym_length = pseudonym_length
        self.mask_char = mask_char
        self.key = key
        self._placeholders = {t: placeholder.format(TYPE=t.upper(), type=t) for t in policies}

    def replacement(self, kind: str, original: str, normalised: str) -> str | None:
        """The text that replaces a span, or None to keep it."""
        policy = self.policies[kind]
        if policy == "placeholder":
            return self._placeholders[kind]
        if policy == "pseudonym":
            assert self.key is not None
            digest = pseudonym(self.key, kind, normalised, self.pseudonym_length)
            return self.pseudonym_format.format(TYPE=kind.upper(), type=kind, hash=digest)
        if policy == "mask":
            return mask(original, self.mask_char)
        return None
