"""Where a datastore's pool lives: a directory on the node, or an NFS ``server:/export``."""

from __future__ import annotations

import ipaddress
import posixpath
import re

from vrm.models.enums import DatastoreType

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_DIR_HINT = "must be an absolute, normalized directory such as /var/lib/vrm/ds1"
_NFS_HINT = 'must be "server:/export" such as nas1.example.com:/exports/vrm'


def check_source(kind: DatastoreType, source: str) -> str:
    """``source`` if it suits a datastore of type ``kind``, else ValueError."""
    if kind is DatastoreType.NFS:
        return _check_nfs(source)
    if source == "/" or not _is_clean_path(source):
        raise ValueError(_DIR_HINT)
    return source


def _check_nfs(source: str) -> str:
    server, export = _split_nfs(source)
    if not _is_server(server) or not _is_clean_path(export):
        raise ValueError(_NFS_HINT)
    return source


def _split_nfs(source: str) -> tuple[str, str]:
    """Server and export path; an IPv6 server is written in brackets: ``[fd00::1]:/x``."""
    if source.startswith("["):
        address, _, rest = source[1:].partition("]")
        return (f"[{address}]", rest[1:]) if rest.startswith(":") else ("", "")
    server, _, export = source.partition(":")
    return server, export


def _is_server(server: str) -> bool:
    """A host name, an IPv4 address or a bracketed IPv6 address."""
    if server.startswith("[") and server.endswith("]"):
        return _is_ip(server[1:-1], version=6)
    if server.replace(".", "").isdigit():
        return _is_ip(server, version=4)
    return len(server) <= 253 and _HOSTNAME.fullmatch(server) is not None


def _is_ip(text: str, *, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def _is_clean_path(path: str) -> bool:
    """Absolute, printable, without ``.``/``..``/empty components or a trailing slash."""
    return (
        path.startswith("/")
        and not path.startswith("//")
        and path.isprintable()
        and posixpath.normpath(path) == path
    )
