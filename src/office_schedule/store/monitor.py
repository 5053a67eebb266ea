"""What the store keeps about the sources themselves: robots.txt reads and health states."""

from __future__ import annotations

from typing import Any

from ..fetch.robots import RobotsRecord

#: columns of a snapshot that the health rules read
HEALTH_COLUMNS = (
    "taken_at", "taken_ts", "status", "n_locations", "n_slots",
    "error_class", "error_message", "error_url",
)  # fmt: skip


class MonitorRecords:
    """Mixed into the store: ``self.db`` is its :class:`~.db.Database`."""

    db: Any

    # -- robots.txt ------------------------------------------------------------------------
    def robots_get(self, origin: str) -> RobotsRecord | None:
        row = self.db.execute(
            "SELECT origin, fetched_ts, status, body FROM robots WHERE origin = ?", (origin,)
        ).fetchone()
        return RobotsRecord(*row) if row else None

    def robots_put(self, record: RobotsRecord) -> None:
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO robots (origin, fetched_ts, status, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (origin) DO UPDATE SET fetched_ts = excluded.fetched_ts, "
                "status = excluded.status, body = excluded.body",
                (record.origin, record.fetched_ts, record.status, record.body),
            )

    # -- health ----------------------------------------------------------------------------
    def recent_snapshots(self, source_id: str, since_ts: float) -> list[dict[str, Any]]:
        """The source's snapshots since ``since_ts`` (oldest first), health columns only."""
        rows = self.db.execute(
            f"SELECT {', '.join(HEALTH_COLUMNS)} FROM snapshots "
            "WHERE source_id = ? AND taken_ts >= ? ORDER BY taken_ts, id",
            (source_id, since_ts),
        ).fetchall()
        return [dict(zip(HEALTH_COLUMNS, r, strict=True)) for r in rows]

    def recorded_source_ids(self) -> list[str]:
        return sorted(r[0] for r in self.db.execute("SELECT DISTINCT source_id FROM snapshots"))

    def health_state(self, source_id: str) -> tuple[str, str, str] | None:
        """(state, since, detail) of one source as last recorded."""
        row = self.db.execute(
            "SELECT state, since, detail FROM health WHERE source_id = ?", (source_id,)
        ).fetchone()
        return tuple(row) if row else None

    def record_health(self, source_id: str, state: str, since: str, detail: str, at: str) -> int:
        """Store a new health state and log the change; returns the log entry's id."""
        with self.db.transaction():
            old = self.db.execute(
                "SELECT state FROM health WHERE source_id = ?", (source_id,)
            ).fetchone()
            self.db.execute(
                "INSERT INTO health (source_id, state, since, detail) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (source_id) DO UPDATE SET state = excluded.state, "
                "since = excluded.since, detail = excluded.detail",
                (source_id, state, since, detail),
            )
            log_id = self.db.insert_id(
                "INSERT INTO health_log (source_id, at, old_state, new_state, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                (source_id, at, old[0] if old else None, state, detail),
            )
        return log_id

    def mark_notified(self, log_ids: list[int]) -> None:
        with self.db.transaction():
            self.db.executemany(
                "UPDATE health_log SET notified = 1 WHERE id = ?", [(i,) for i in log_ids]
            )

    def health_changes(self, unnotified_only: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT id, source_id, at, old_state, new_state, detail, notified FROM health_log"
        if unnotified_only:
            sql += " WHERE notified = 0"
        cols = ("id", "source_id", "at", "old_state", "new_state", "detail", "notified")
        return [dict(zip(cols, r, strict=True)) for r in self.db.execute(sql + " ORDER BY id")]
