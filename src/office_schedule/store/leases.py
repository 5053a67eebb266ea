"""Host leases: several recorders share one catalog, never two of them on one host.

A worker announces itself (``workers``, renewed with every heartbeat) and holds hosts
(``leases``) until an expiry time on the store's clock. It renews its leases well before
they expire; a worker that dies simply stops renewing, and once its leases have expired
any other worker may take them. A lease changes hands only through that expiry or a
release, inside one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE expired`` statement, so
two workers can never both win a host.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class LeaseRecords:
    """Mixed into the store: ``self.db`` is its :class:`~.db.Database`."""

    db: Any

    def heartbeat(self, worker: str, ttl: float, info: str = "") -> int:
        """Announce ``worker`` for ``ttl`` seconds more; returns the live workers (>= 1)."""
        now = self.db.now()
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO workers (worker, info, seen_ts, expires_ts) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (worker) DO UPDATE SET info = excluded.info, "
                "seen_ts = excluded.seen_ts, expires_ts = excluded.expires_ts",
                (worker, info, now, now + ttl),
            )
            self.db.execute("DELETE FROM workers WHERE expires_ts < ?", (now - 86400,))
            (live,) = self.db.execute(
                "SELECT count(*) FROM workers WHERE expires_ts >= ?", (now,)
            ).fetchone()
        return max(1, int(live))

    def claim_hosts(self, worker: str, hosts: Iterable[str], limit: int, ttl: float) -> set[str]:
        """Renew ``worker``'s leases and take free or expired ones of ``hosts`` until it
        holds ``limit``; returns the hosts it holds (each for ``ttl`` seconds)."""
        now = self.db.now()
        expires = now + ttl
        with self.db.transaction():
            self.db.execute("UPDATE leases SET expires_ts = ? WHERE worker = ?", (expires, worker))
            held = {h for (h,) in self.db.execute(
                "SELECT host FROM leases WHERE worker = ?", (worker,)
            )}  # fmt: skip
        for host in hosts:
            if len(held) >= limit:
                break
            if host in held:
                continue
            with self.db.transaction():
                won = self.db.execute(
                    "INSERT INTO leases (host, worker, since_ts, expires_ts) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (host) DO UPDATE SET worker = excluded.worker, "
                    "since_ts = excluded.since_ts, expires_ts = excluded.expires_ts "
                    "WHERE leases.expires_ts < ? RETURNING host",
                    (host, worker, now, expires, now),
                ).fetchone()
            if won:
                held.add(host)
        return held

    def release_hosts(self, worker: str, hosts: Iterable[str] | None = None) -> None:
        """Give hosts up (all of them when ``hosts`` is None)."""
        with self.db.transaction():
            if hosts is None:
                self.db.execute("DELETE FROM leases WHERE worker = ?", (worker,))
                return
            self.db.executemany(
                "DELETE FROM leases WHERE worker = ? AND host = ?", [(worker, h) for h in hosts]
            )

    def retire(self, worker: str) -> None:
        """A worker that stops: its hosts are free at once, and it no longer counts."""
        with self.db.transaction():
            self.db.execute("DELETE FROM leases WHERE worker = ?", (worker,))
            self.db.execute("DELETE FROM workers WHERE worker = ?", (worker,))

    def clear_leases(self) -> None:
        """Forget every worker and lease (the caller holds the store exclusively)."""
        with self.db.transaction():
            self.db.execute("DELETE FROM leases")
            self.db.execute("DELETE FROM workers")

    def leases(self) -> list[dict[str, Any]]:
        """Unexpired leases: host, worker, since (unix time), seconds left, worker info."""
        now = self.db.now()
        rows = self.db.execute(
            "SELECT l.host, l.worker, l.since_ts, l.expires_ts, w.info FROM leases l "
            "LEFT JOIN workers w ON w.worker = l.worker WHERE l.expires_ts >= ? "
            "ORDER BY l.host",
            (now,),
        ).fetchall()
        return [
            {"host": h, "worker": w, "since_ts": s, "expires_in": e - now, "info": i or ""}
            for h, w, s, e, i in rows
        ]
