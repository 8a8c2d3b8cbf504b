"""Ray token authentication for a driver that joins a cluster (``--address HOST:PORT``).

How Ray 2.60 does it (its ``_private/authentication`` package, ``scripts.py`` and ``worker.py``):

- **Mode.** ``RAY_AUTH_MODE`` (``token`` or ``disabled``, read from each process's environment
  when Ray loads its config). Unset means disabled, with two exceptions: ``ray start --head``
  switches to token when it finds a token (below), and ``ray.init()`` starting a new local
  instance always does, writing a fresh ``~/.ray/auth_token`` when none exists. A node started
  with ``ray start --address`` and a driver calling ``ray.init(address=HOST:PORT)`` never switch
  on their own: with the mode unset they send no token, and the head's GCS answers
  ``InvalidAuthToken`` (the node fails after 20 s of retries; ``ray.init`` raises a
  ``ConnectionError`` after 20 s with the reason buried in its cause).
- **Token**, the first found: ``RAY_AUTH_TOKEN`` (the value itself), ``RAY_AUTH_TOKEN_PATH`` (a
  file; missing or empty is an error, ``~`` is not expanded), ``~/.ray/auth_token``. Surrounding
  whitespace is ignored. ``ray get-auth-token`` prints the token this machine would use.
- A process in token mode can still talk to a cluster without authentication (the token is
  ignored), so turning token mode on when a token is at hand never breaks a connection.

So curate, before ``ray.init(address=HOST:PORT)``: turns token mode on when ``RAY_AUTH_MODE`` is
unset and a token is at hand, checks the token sources itself (Ray aborts the process on some
bad ones), and asks the cluster once, with no retries, whether it accepts this process, so that a
missing or wrong token is one clear error at once instead of 20 s of retries and a traceback.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from curate.errors import ConfigError, CurateError

AUTH_MODE = "RAY_AUTH_MODE"
TOKEN = "RAY_AUTH_TOKEN"
TOKEN_PATH = "RAY_AUTH_TOKEN_PATH"
MODES = ("token", "disabled")

_PROBE_CONNECT_S = 2.0
"""How long the pre-flight check waits for a TCP connection to the head before leaving the
diagnosis to ``ray.init``."""

_REJECTED = ("InvalidAuthToken", "Authentication token is missing or incorrect")

_GET_TOKEN = "`ray get-auth-token` on the head prints the cluster's token"
_WHERE_TOKENS_GO = f"export {TOKEN}=<token>, or {TOKEN_PATH}=<a file holding it>, or save it as ~/.ray/auth_token"


def default_token_path() -> Path:
    """Where Ray looks for a token when neither environment variable is set."""
    return Path.home() / ".ray" / "auth_token"


def find_token(environ: dict[str, str] | None = None) -> tuple[str, str] | None:
    """The token Ray would send, as ``(where it came from, token)``, or None when there is none.

    Same order as Ray: ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``. A
    ``RAY_AUTH_TOKEN_PATH`` naming a missing or empty file is a :class:`ConfigError`, as it is an
    error (or a crash) in Ray.
    """
    env = os.environ if environ is None else environ
    value = env.get(TOKEN, "").strip()
    if value:
        return TOKEN, value
    path = env.get(TOKEN_PATH, "")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            value = ""
        if not value:
            raise ConfigError(
                f"{TOKEN_PATH}={path}: no Ray token there (the file is missing, unreadable or empty)",
                hint=f"point {TOKEN_PATH} at the file holding the cluster's token (an absolute path: Ray does not expand ~), or unset it",
            )
        return f"{TOKEN_PATH} ({path})", value
    default = default_token_path()
    try:
        value = default.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return (str(default), value) if value else None


def auth_mode(environ: dict[str, str] | None = None) -> str | None:
    """``RAY_AUTH_MODE`` in lower case, None when unset; anything but token/disabled is an error
    (Ray would quietly treat it as disabled)."""
    env = os.environ if environ is None else environ
    raw = env.get(AUTH_MODE)
    if raw is None:
        return None
    mode = raw.strip().lower()
    if mode not in MODES:
        raise ConfigError(f"{AUTH_MODE}={raw!r}: allowed values are token and disabled", hint=f"export {AUTH_MODE}=token (or unset it)")
    return mode


def host_port(address: str | None) -> tuple[str, int] | None:
    """``(host, port)`` for a ``HOST:PORT`` address; None for none, ``auto``, ``local``, ``ray://…``."""
    if not address or "://" in address:
        return None
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def prepare_driver_auth(address: str | None) -> None:
    """Set in ``os.environ`` what Ray needs to join the cluster at ``address``, before ``ray.init``.

    Turns token mode on when ``RAY_AUTH_MODE`` is unset and a token is at hand, and raises a
    :class:`ConfigError` naming what to set when the token sources are broken, or when the
    cluster (asked once, without retries) rejects this process's token or lack of one. Without
    a ``HOST:PORT`` address (a local instance, ``auto``), Ray's own rules apply and only the token
    sources are checked.
    """
    mode = auth_mode()
    found = None if mode == "disabled" else find_token()
    target = host_port(address)
    if target is None:
        return
    if mode == "token" and found is None:
        raise ConfigError(
            f"engine.address: {AUTH_MODE}=token but there is no Ray token on this machine",
            hint=f"{_GET_TOKEN}: {_WHERE_TOKENS_GO}",
        )
    if mode is None and found is not None:
        os.environ[AUTH_MODE] = "token"
        mode = "token"
    if mode == "token":
        _reload_ray_auth()
    rejection = _ask_cluster(str(address), target)
    if rejection is not None:
        raise _auth_error(str(address), mode, found)


def explain_auth_error(err: BaseException, address: str | None = None) -> CurateError | None:
    """The clear error behind a failed ``ray.init`` when the cause was authentication, else None.

    Ray reports a rejected token as ``AuthenticationError``, or as a ``ConnectionError`` whose
    cause's message holds ``InvalidAuthToken``.
    """
    if not _is_auth_failure(err):
        return None
    try:
        mode = auth_mode()
        found = None if mode == "disabled" else find_token()
    except ConfigError as bad_source:
        return bad_source
    return _auth_error(address or os.environ.get("RAY_ADDRESS") or "the cluster", mode, found)


def _is_auth_failure(err: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ == "AuthenticationError" or any(s in str(current) for s in _REJECTED):
            return True
        current = current.__cause__ or current.__context__
    return False


def _auth_error(address: str, mode: str | None, found: tuple[str, str] | None) -> ConfigError:
    if mode == "disabled":
        return ConfigError(
            f"engine.address: the Ray cluster at {address} uses token authentication, but {AUTH_MODE}=disabled here",
            hint=f"unset {AUTH_MODE} (or export {AUTH_MODE}=token) and give curate the token; {_GET_TOKEN}: {_WHERE_TOKENS_GO}",
        )
    if found is None:
        return ConfigError(
            f"engine.address: the Ray cluster at {address} uses token authentication and there is no Ray token on this machine",
            hint=f"{_GET_TOKEN}: {_WHERE_TOKENS_GO}",
        )
    return ConfigError(
        f"engine.address: the Ray cluster at {address} rejected the token from {found[0]}: it is not the cluster's token",
        hint=f"{_GET_TOKEN}: export {TOKEN}=<token> or {TOKEN_PATH}=<a file holding it> ({TOKEN} comes first, then {TOKEN_PATH}, then ~/.ray/auth_token)",
    )


def _reload_ray_auth() -> None:
    """Make an already imported Ray see the mode and token now in ``os.environ``.

    Ray reads ``RAY_AUTH_MODE`` into its config once and caches the token it loads; this is what
    Ray itself does when ``ray start --head`` turns token mode on.
    """
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def _ask_cluster(address: str, target: tuple[str, int]) -> str | None:
    """The cluster's rejection of this process's credentials, or None if it accepts them or
    cannot be asked quickly (unreachable, not a Ray head: ``ray.init`` reports those)."""
    try:
        socket.create_connection(target, timeout=_PROBE_CONNECT_S).close()
    except OSError:
        return None
    try:
        from ray._raylet import InnerGcsClient
    except ImportError:
        return None
    rejection = None
    with _stderr_kept(lambda: rejection is None):  # Ray's C++ client logs the rejection too
        try:
            client: Any = InnerGcsClient.standalone(address, None, int(_PROBE_CONNECT_S * 1000))
            del client
        except Exception as err:  # AuthenticationError when rejected; RpcError when not a GCS
            if _is_auth_failure(err):
                rejection = str(err)
    return rejection


@contextlib.contextmanager
def _stderr_kept(replay: Callable[[], bool]) -> Iterator[None]:
    """Catch what native code writes to file descriptor 2 inside the block; write it out
    afterwards only if ``replay()`` says so."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if replay():
                caught.seek(0)
                os.write(2, caught.read())


def check_reachable(address: str | None, wait_s: float = 10.0) -> None:
    """Fail in seconds, not after Ray's many minutes of retries, when nothing listens at a
    ``HOST:PORT`` address (a head still starting gets ``wait_s`` to open its port)."""
    import time

    target = host_port(address)
    if target is None:
        return
    deadline = time.monotonic() + wait_s
    while True:
        try:
            socket.create_connection(target, timeout=_PROBE_CONNECT_S).close()
            return
        except OSError as err:
            if time.monotonic() >= deadline:
                raise ConfigError(
                    f"engine.address: nothing answers at {address} ({err.strerror or err})",
                    hint="start the head with `ray start --head --port PORT`, or check the address (RAY_ADDRESS, --address)",
                ) from None
            time.sleep(0.5)
