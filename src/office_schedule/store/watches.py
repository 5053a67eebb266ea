"""Watches: stored slot filters, what each one has announced, and the messages to deliver.

Per watch and source a cursor names the last snapshot evaluated; it moves by
compare-and-set, so two processes evaluating one snapshot (two recorders, ``watch check``
from cron) announce it once. The announced slots, the cursor and the message are written
in one transaction; a message is claimed by one process while it is sent.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .codec import decode_minutes

#: columns of a watch message, in the order ``watch_messages`` returns them
MESSAGE_COLUMNS = (
    "id", "watch_id", "source_id", "snapshot_id", "created_at", "created_ts", "n_slots",
    "title", "body", "delivered", "done", "attempts", "next_ts", "last_error",
)  # fmt: skip

Key = tuple[str, int]  # (location id, slot as minutes since 1970)


def _indices(text: str) -> set[int]:
    return {int(x) for x in text.split(",") if x}


class WatchRecords:
    """Mixed into the store: ``self.db`` is its :class:`~.db.Database`."""

    db: Any

    # -- the watches themselves ------------------------------------------------------------
    def add_watch(
        self, name: str, rule: dict, notify: list[str], created_at: str, created_ts: float
    ) -> int:
        with self.db.transaction():
            return self.db.insert_id(
                "INSERT INTO watches (name, rule, notify, created_at, created_ts) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, json.dumps(rule, sort_keys=True), json.dumps(list(notify)),
                 created_at, created_ts),
            )  # fmt: skip

    def watches(self) -> list[dict[str, Any]]:
        """Every watch (oldest first) with counts of announced slots and open messages."""
        rows = self.db.execute(
            "SELECT w.id, w.name, w.rule, w.notify, w.created_at, w.created_ts, "
            "(SELECT count(*) FROM watch_announced a WHERE a.watch_id = w.id), "
            "(SELECT count(*) FROM watch_outbox o WHERE o.watch_id = w.id AND o.done = 1), "
            "(SELECT count(*) FROM watch_outbox o WHERE o.watch_id = w.id AND o.done = 0), "
            "(SELECT max(o.last_error) FROM watch_outbox o "
            " WHERE o.watch_id = w.id AND o.done = 0) "
            "FROM watches w ORDER BY w.id"
        ).fetchall()
        cols = ("id", "name", "rule", "notify", "created_at", "created_ts", "remembered",
                "delivered", "undelivered", "last_error")  # fmt: skip
        out = []
        for row in rows:
            entry = dict(zip(cols, row, strict=True))
            entry["rule"], entry["notify"] = json.loads(entry["rule"]), json.loads(entry["notify"])
            out.append(entry)
        return out

    def remove_watch(self, watch_id: int) -> bool:
        """Forget a watch with its cursors, memory and messages; False if there is none."""
        with self.db.transaction():
            for table in ("watch_outbox", "watch_announced", "watch_cursors"):
                self.db.execute(f"DELETE FROM {table} WHERE watch_id = ?", (watch_id,))
            gone = self.db.execute(
                "DELETE FROM watches WHERE id = ? RETURNING id", (watch_id,)
            ).fetchone()
        return gone is not None

    # -- evaluating ------------------------------------------------------------------------
    def watch_cursor(self, watch_id: int, source_id: str) -> tuple[int, float] | None:
        """(snapshot id, taken_ts) of the last snapshot the watch evaluated for the source."""
        row = self.db.execute(
            "SELECT snapshot_id, taken_ts FROM watch_cursors WHERE watch_id = ? AND source_id = ?",
            (watch_id, source_id),
        ).fetchone()
        return (int(row[0]), float(row[1])) if row else None

    def snapshot_at_or_before(
        self, source_id: str, ts: float, snapshot_id: int | None = None
    ) -> tuple[int, float] | None:
        """(id, taken_ts) of the newest ok/unchanged snapshot taken at ``ts`` or before (and,
        at exactly ``ts``, with an id up to ``snapshot_id``); pruned ones are skipped."""
        last_id = snapshot_id if snapshot_id is not None else 2**62
        row = self.db.execute(
            "SELECT id, taken_ts FROM snapshots WHERE source_id = ? "
            "AND status IN ('ok', 'unchanged') AND (taken_ts < ? OR (taken_ts = ? AND id <= ?)) "
            "ORDER BY taken_ts DESC, id DESC LIMIT 1",
            (source_id, ts, ts, last_id),
        ).fetchone()
        return (int(row[0]), float(row[1])) if row else None

    def free_minutes(
        self, source_id: str, snapshot_id: int
    ) -> dict[str, tuple[str | None, list[str], np.ndarray]]:
        """Per location present at a snapshot: (name, services, free minutes since 1970)."""
        from .sql import STATE_SQL  # sql.py mixes this class in

        (ts,) = self.db.execute(
            "SELECT taken_ts FROM snapshots WHERE id = ?", (snapshot_id,)
        ).fetchone()
        return {
            loc: (name, json.loads(services or "[]"), decode_minutes(blob))
            for loc, present, blob, name, services in self.db.execute(
                STATE_SQL, (source_id, ts, ts, snapshot_id)
            )
            if present
        }

    def watch_announced(self, watch_id: int, source_id: str) -> dict[Key, int]:
        """The slots the watch remembers having announced -> snapshots they have been gone."""
        return {
            (loc, int(slot)): int(missed)
            for loc, slot, missed in self.db.execute(
                "SELECT location_id, slot, missed FROM watch_announced "
                "WHERE watch_id = ? AND source_id = ?",
                (watch_id, source_id),
            )
        }

    def record_watch(
        self,
        watch_id: int,
        source_id: str,
        cursor: int | None,
        snapshot: tuple[int, float],
        at: str,
        announce: list[Key],
        missed: dict[Key, int],
        forget: list[Key],
        message: tuple[str, str] | None,
        done: bool = False,
    ) -> tuple[bool, int | None]:
        """Move the cursor from ``cursor`` to ``snapshot`` and store what it found.

        Returns (False, None) when another process moved the cursor first (nothing is
        written), else (True, id of the stored message or None).
        """
        snap_id, snap_ts = snapshot
        with self.db.transaction():
            if (
                self.db.execute("SELECT 1 FROM watches WHERE id = ?", (watch_id,)).fetchone()
                is None
            ):
                return False, None  # removed meanwhile
            if cursor is None:
                won = self.db.execute(
                    "INSERT INTO watch_cursors (watch_id, source_id, snapshot_id, taken_ts) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (watch_id, source_id) DO NOTHING "
                    "RETURNING watch_id",
                    (watch_id, source_id, snap_id, snap_ts),
                ).fetchone()
            else:
                won = self.db.execute(
                    "UPDATE watch_cursors SET snapshot_id = ?, taken_ts = ? "
                    "WHERE watch_id = ? AND source_id = ? AND snapshot_id = ? RETURNING watch_id",
                    (snap_id, snap_ts, watch_id, source_id, cursor),
                ).fetchone()
            if won is None:
                return False, None
            key = (watch_id, source_id)
            self.db.executemany(
                "DELETE FROM watch_announced WHERE watch_id = ? AND source_id = ? "
                "AND location_id = ? AND slot = ?",
                [(*key, loc, slot) for loc, slot in forget],
            )
            self.db.executemany(
                "UPDATE watch_announced SET missed = ? WHERE watch_id = ? AND source_id = ? "
                "AND location_id = ? AND slot = ?",
                [(n, *key, loc, slot) for (loc, slot), n in missed.items()],
            )
            self.db.executemany(
                "INSERT INTO watch_announced (watch_id, source_id, location_id, slot, "
                "announced_at, missed) VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING",
                [(*key, loc, slot, at) for loc, slot in announce],
            )
            if message is None:
                return True, None
            message_id = self.db.insert_id(
                "INSERT INTO watch_outbox (watch_id, source_id, snapshot_id, created_at, "
                "created_ts, n_slots, title, body, done) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*key, snap_id, at, self.db.now(), len(announce), *message, int(done)),
            )
        return True, message_id

    # -- delivering ------------------------------------------------------------------------
    def watch_messages(
        self, watch_id: int | None = None, undelivered: bool = False, due: bool = False
    ) -> list[dict[str, Any]]:
        """Stored messages, oldest first; ``due``: undelivered ones whose retry time came."""
        sql = f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM watch_outbox WHERE 1 = 1"
        args: list[Any] = []
        if watch_id is not None:
            sql += " AND watch_id = ?"
            args.append(watch_id)
        if undelivered or due:
            sql += " AND done = 0"
        if due:
            sql += " AND next_ts <= ?"
            args.append(self.db.now())
        out = []
        for row in self.db.execute(sql + " ORDER BY id", args):
            entry = dict(zip(MESSAGE_COLUMNS, row, strict=True))
            entry["delivered"] = _indices(entry["delivered"])
            out.append(entry)
        return out

    def claim_watch_message(self, message_id: int, worker: str, ttl: float) -> bool:
        """Take an undelivered message for ``ttl`` seconds, unless another process has it."""
        now = self.db.now()
        with self.db.transaction():
            row = self.db.execute(
                "UPDATE watch_outbox SET claimed_by = ?, claim_ts = ? WHERE id = ? AND done = 0 "
                "AND (claimed_by IS NULL OR claimed_by = ? OR claim_ts < ?) RETURNING id",
                (worker, now + ttl, message_id, worker, now),
            ).fetchone()
        return row is not None

    def finish_watch_message(
        self, message_id: int, delivered: set[int], done: bool, error: str | None, retry_in: float
    ) -> None:
        """Record a delivery attempt and release the claim."""
        now = self.db.now()
        with self.db.transaction():
            self.db.execute(
                "UPDATE watch_outbox SET delivered = ?, done = ?, attempts = attempts + 1, "
                "next_ts = ?, last_error = ?, claimed_by = NULL, claim_ts = NULL WHERE id = ?",
                (",".join(map(str, sorted(delivered))), int(done), now + retry_in, error,
                 message_id),
            )  # fmt: skip
