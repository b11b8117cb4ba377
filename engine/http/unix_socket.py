"""The engine's Unix socket: a user-only folder, one live engine per path, and only the socket
this engine bound is ever removed.

- The folder must be a real folder (not a symbolic link) owned by this user; a folder the engine
  made for itself (``streamer-tts*``) is kept at mode 0700.
- Something at the socket path that is not a socket (a regular file, a link) is never deleted:
  the engine refuses to start and says so.
- A socket that answers belongs to a live engine: the new one refuses to start. A socket that
  refuses connections is a leftover of an engine that was killed; it is removed when it belongs
  to this user.
- The socket is bound by this module (an atomic ``bind``, never asyncio's unlink-then-bind), and
  on exit it is unlinked only if the file at the path is still the one bound (same inode).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import EngineError

_LOGGER = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 1.0
"""How long to wait for a socket already at the path to accept a connection."""
BACKLOG = 128


class SocketInUse(EngineError):
    """Another engine is listening on the socket path, or the path holds something else."""

    code = "socket_in_use"


@dataclass
class OwnedSocket:
    """A listening Unix socket this engine bound, and the file identity to check on exit."""

    path: Path
    sock: socket.socket
    device: int
    inode: int

    def release(self) -> None:
        """Close the socket and unlink its file, unless another file has taken the path."""
        self.sock.close()
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return
        if (info.st_dev, info.st_ino) == (self.device, self.inode):
            self.path.unlink(missing_ok=True)
        else:
            _LOGGER.warning("Left %s in place: it is no longer the socket this engine bound", self.path)


def prepare_folder(folder: Path) -> None:
    """Create the socket's folder (mode 0700) or check the existing one: a real folder, owned
    by this user. Raises ``SocketInUse`` with what to do."""
    with contextlib.suppress(FileExistsError):
        folder.mkdir(parents=True, mode=0o700)
    info = os.lstat(folder)
    if stat.S_ISLNK(info.st_mode):
        raise SocketInUse(f"the socket folder {folder} is a symbolic link; refusing to follow it "
                          "(it could lead anywhere): use a real folder in server.unix_socket")
    if not stat.S_ISDIR(info.st_mode):
        raise SocketInUse(f"{folder} is not a folder; set server.unix_socket to another path")
    if info.st_uid != os.getuid():
        raise SocketInUse(f"the socket folder {folder} belongs to another user (uid {info.st_uid}); "
                          "refusing to put the socket there: remove the folder or set "
                          "server.unix_socket to another path")
    if stat.S_IMODE(info.st_mode) & 0o077 and folder.name.startswith("streamer-tts"):
        os.chmod(folder, 0o700)


async def answers(path: Path, *, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether something accepts connections on the socket at ``path`` (a live engine). A
    socket that keeps the connection waiting past ``timeout_s`` counts as live."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), timeout_s)
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except asyncio.TimeoutError:
        return True
    except OSError as exc:
        raise SocketInUse(f"cannot check the socket {path}: {exc.strerror or exc}") from None
    writer.close()
    return True


async def check_free(path: Path) -> None:
    """Refuse early (before backends load) when the path is taken; removes a stale socket of
    this user. Raises ``SocketInUse``."""
    prepare_folder(path.parent)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise SocketInUse(f"{path} exists and is not a socket; refusing to delete it: remove it "
                          "yourself or set server.unix_socket to another path")
    if await answers(path):
        raise SocketInUse(f"another engine is already listening on {path}; stop it first, or set "
                          "server.unix_socket (and server.port) to run a second one")
    if info.st_uid != os.getuid():
        raise SocketInUse(f"{path} is a socket of another user (uid {info.st_uid}); refusing to "
                          "remove it: set server.unix_socket to another path")
    path.unlink(missing_ok=True)
    _LOGGER.info("Removed the stale socket %s (nothing was listening on it)", path)


async def claim(path: Path) -> OwnedSocket:
    """Check the path (``check_free``) and bind a listening socket there, mode 0600."""
    await check_free(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))  # fails if anything appeared at the path meanwhile: never replaces it
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SocketInUse(f"another engine took {path} while this one started") from None
        raise SocketInUse(f"cannot listen on {path}: {exc.strerror or exc}") from None
    finally:
        os.umask(old)
    info = os.lstat(path)
    os.chmod(path, 0o600)
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return OwnedSocket(path, sock, info.st_dev, info.st_ino)
