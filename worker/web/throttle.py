"""Failed-login throttling that slows guessers down without locking anyone out.

Failures are counted in the server process, keyed by the name as typed (whether
or not such a user exists, so the answers never tell) and by the client's
address (an IPv6 address by its /64 network):

- one address and one name: ``PAIR_FREE`` tries go by; after that each try
  waits 1, 2, 4 ... seconds (at most ``MAX_WAIT``) after the last failure;
- one address, any names: ``ADDRESS_FREE`` tries, then the same doubling wait;
- one name, any addresses: past ``NAME_ALERT`` failures the name is under
  attack, and every address that failed against it (but never logged in as it)
  waits at least ``ALERT_WAIT`` seconds after each failure, with no free tries.
  An address with no failure on the name, or one the name has logged in from,
  is not slowed: the account itself is never locked.

A success from an address clears its count for that name and marks the address
as one the name logs in from; it marks the browser's device id (a random cookie
the app sets) too. A try that brings a device id the name has logged in from is
counted for that device instead of its address, so a person whose address an
attacker shares (one NAT, one proxy) still gets in from their own browser.
Counts fade after ``WINDOW`` seconds without a failure. Refusals cost no
password hashing.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

PAIR_FREE = 3
ADDRESS_FREE = 20
NAME_ALERT = 20
ALERT_WAIT = 30.0
MAX_WAIT = 900.0
WINDOW = 3600.0  # seconds without a failure after which a count starts again
KNOWN_SECONDS = 30 * 86400.0  # how long a successful login vouches for its address
MAX_KEYS = 100_000  # counts kept at most per kind (the oldest are dropped first)


@dataclass
class _Count:
    failures: int = 0
    last: float = 0.0  # the last failure
    pending: int = 0  # tries being checked now: they count as failures until they end


def address_key(host: str | None) -> str:
    """The address a count is kept for: IPv4 as is, IPv6 by its /64 network."""
    if not host:
        return "-"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)


def _device_key(device: str) -> str:
    return "device " + device[:64]


def name_key(name: str) -> str:
    return name.strip().casefold()[:200]


class LoginThrottle:
    """Thread-safe failure counts; ``clock`` is monotonic seconds (replaceable in tests).

    ``start`` before checking a password (0: go ahead, else the seconds to wait), then
    ``end`` with the outcome. Tries in flight count as failures, so a burst of parallel
    tries gets no more free guesses than tries one after another."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._pairs: dict[tuple[str, str], _Count] = {}
        self._addresses: dict[str, _Count] = {}
        self._names: dict[str, _Count] = {}
        self._known: dict[tuple[str, str], float] = {}

    def start(self, address: str | None, name: str, device: str | None = None) -> int:
        """Seconds this address (or known device) must wait before it may try this name;
        0: the try is counted as in flight, and ``end`` must follow."""
        now = self.clock()
        n = name_key(name)
        with self._lock:
            a = self._source(address, n, device, now)
            pair = self._count(self._pairs, (a, n), now)
            addr = self._count(self._addresses, a, now)
            under_attack = self._count(self._names, n, now).failures >= NAME_ALERT
            suspect = under_attack and not self._is_known(a, n, now)
            until = max(_backoff(pair, PAIR_FREE), _backoff(addr, ADDRESS_FREE))
            if suspect and pair.failures:
                until = max(until, pair.last + max(ALERT_WAIT, _doubling(pair.failures)))
            # Past the free tries, a try waits for those in flight to end.
            busy = (
                (pair.pending and pair.pending + pair.failures >= PAIR_FREE)
                or (addr.pending and addr.pending + addr.failures >= ADDRESS_FREE)
                or (suspect and pair.pending)
            )
            if until > now or busy:
                return max(1, math.ceil(until - now))
            for table, key in self._tables(a, n):
                self._write(table, key, self._count(table, key, now), pending=1)
        return 0

    def end(self, address: str | None, name: str, ok: bool | None, device: str | None = None) -> None:
        """A try ``start`` let through has ended: a failure (``ok`` False) counts; a success
        clears this address's count for the name and vouches for the address and the
        device; None (the password was never checked) only ends the try."""
        now = self.clock()
        n = name_key(name)
        with self._lock:
            a = self._source(address, n, device, now)
            for table, key in self._tables(a, n):
                count = self._count(table, key, now)
                count.pending = max(0, count.pending - 1)
                if ok is False:
                    count.failures += 1
                    count.last = now
                elif ok and table is self._pairs:
                    count.failures = 0
                self._write(table, key, count)
            if ok:
                for source in {a, address_key(address), *([_device_key(device)] if device else [])}:
                    self._known.pop((source, n), None)
                    self._known[(source, n)] = now
                while len(self._known) > MAX_KEYS:
                    del self._known[next(iter(self._known))]

    def _source(self, address: str | None, n: str, device: str | None, now: float) -> str:
        """What a try is counted for: a device the name has logged in from, else the address."""
        if device and self._is_known(_device_key(device), n, now):
            return _device_key(device)
        return address_key(address)

    def _tables(self, a: str, n: str) -> tuple[tuple[dict, object], ...]:
        return ((self._pairs, (a, n)), (self._addresses, a), (self._names, n))

    def _is_known(self, address: str, name: str, now: float) -> bool:
        seen = self._known.get((address, name))
        return seen is not None and now - seen < KNOWN_SECONDS

    @staticmethod
    def _count(table: dict, key, now: float) -> _Count:
        """The key's count; its failures forgotten once ``WINDOW`` (or its wait, if longer)
        has passed since the last one."""
        count = table.get(key)
        if count is None:
            return _Count()
        if now - count.last > max(WINDOW, _doubling(count.failures)):
            count.failures = 0
        return count

    @staticmethod
    def _write(table: dict, key, count: _Count, pending: int = 0) -> None:
        """Store a count at the end of the table (newest last), dropping the oldest past
        ``MAX_KEYS``, and counts with nothing left in them."""
        count.pending += pending
        table.pop(key, None)
        if count.failures or count.pending:
            table[key] = count
        while len(table) > MAX_KEYS:
            del table[next(iter(table))]


def _doubling(excess: int) -> float:
    return min(MAX_WAIT, 2.0 ** max(0, excess - 1)) if excess > 0 else 0.0


def _backoff(count: _Count, free: int) -> float:
    """When the next try may come: ``free`` tries go by, then each waits 1, 2, 4 ... s after the last failure."""
    return count.last + _doubling(count.failures - free + 1) if count.failures >= free else 0.0
