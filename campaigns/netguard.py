"""Outbound HTTP to URLs that tenants type (webhooks) never reaches this host, its networks or cloud metadata.

A tenant can enter any webhook URL, and the worker that POSTs to it sits inside our network: 127.0.0.1 (Redis,
PostgreSQL, Flower), 169.254.169.254 (cloud metadata) and private ranges must stay out of reach. Two checks:

- on save (Campaign.clean, so the admin and the API alike): the URL's scheme, and its host when that is, or
  resolves to, an address that is not public; a name that does not resolve yet is accepted (the send checks it);
- on send (GuardedSession): the host is resolved once, every address is checked, and the connection goes to the
  address that was checked, so a name that resolves to a public address on save and to 127.0.0.1 later (DNS
  rebinding) is refused too. Redirects are never followed, and HTTP(S)_PROXY is ignored.

`WEBHOOK_ALLOW_PRIVATE = True` turns the address check off (a receiver on the same private network, or tests).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError

SCHEMES = ("http", "https")


class UnsafeURL(ValueError):
    """A URL that must not be fetched: not http(s), or its host is (or resolves to) a non-public address."""


def private_allowed() -> bool:
    return getattr(settings, "WEBHOOK_ALLOW_PRIVATE", False)


def blocked_reason(address: str) -> str | None:
    """Why an IP address may not be contacted ("a loopback address"), or None for a public unicast address. The
    address itself is left out: a tenant reads this, and should not learn what an internal name resolves to."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone ("fe80::1%eth0") is no part of the address
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    for attribute, kind in (
        ("is_unspecified", "an unspecified"),
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_multicast", "a multicast"),
        ("is_reserved", "a reserved"),
        ("is_private", "a private"),
    ):
        if getattr(ip, attribute):
            return f"{kind} address"
    if not ip.is_global:
        return "not a public address"
    return None


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (socket.gaierror when none)."""
    literal = _literal(host.strip("[]"))
    if literal:
        return [literal]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def checked_addresses(host: str, port: int) -> list[str]:
    """The addresses to connect to; UnsafeURL if any of them is not public (unless WEBHOOK_ALLOW_PRIVATE)."""
    addresses = resolve(host, port)
    if not private_allowed():
        for address in addresses:
            reason = blocked_reason(address)
            if reason:
                verb = "is" if _literal(host.strip("[]")) else "resolves to"
                raise UnsafeURL(f"{host} is refused: it {verb} {reason}.")
    return addresses


def split_url(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL; UnsafeURL for any other scheme or a URL without a host."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise UnsafeURL("Only http and https URLs are allowed.")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise UnsafeURL("The port is not a number between 0 and 65535.") from None
    if not parts.hostname:
        raise UnsafeURL("The URL has no host.")
    return parts.hostname, port


def validate_url(url: str) -> None:
    """The save-time check: UnsafeURL for a bad scheme or a host that is or resolves to a non-public address."""
    host, port = split_url(url)
    if private_allowed():
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise UnsafeURL(f"{host} is refused: it names this host.")
    with contextlib.suppress(socket.gaierror, UnicodeError):  # not resolvable today: the send-time check decides
        checked_addresses(host, port)


# --- send time -------------------------------------------------------------------------------------------


class _Guarded:
    """A urllib3 connection that resolves its host itself, checks every address, and connects to a checked one.
    TLS still verifies the certificate against the host name (self.host is unchanged)."""

    def _new_conn(self):
        try:
            addresses = checked_addresses(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        name = self._dns_host
        self._dns_host = addresses[0]
        try:
            return super()._new_conn()
        finally:
            self._dns_host = name


class _GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def guarded_session() -> requests.Session:
    """A requests session for tenant-chosen URLs: checked addresses only, no proxies from the environment."""
    session = requests.Session()
    session.trust_env = False  # HTTP(S)_PROXY would make the proxy, not the receiver, the checked address
    adapter = _GuardedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
