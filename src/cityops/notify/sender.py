"""The sender: claims due outbox rows with a lease, sends them outside any write transaction,
then marks them sent (or due again later, with exponential backoff).

Delivery guarantees, honestly: a step is queued once (the outbox key), claimed by one worker at
a time (the lease) and marked sent after the channel accepted it. If a worker dies after the
channel accepted a message but before the mark is committed, the row's lease runs out and the
message is sent again: at-least-once at the transport. Each message carries an id derived from
its row key (Message-ID for e-mail, `id`/Idempotency-Key for SMS and webhooks), the same on
every try, so a receiver can recognise the repeat.
"""

from __future__ import annotations

import asyncio
import logging
import os
import smtplib
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

import orjson

from cityops.notify.config import NotifyConfig, load_config
from cityops.notify.outbox import next_retry
from cityops.security import egress
from cityops.security.settings import Network
from cityops.security.settings import load as load_security
from cityops.store.codec import to_us

if TYPE_CHECKING:
    from cityops.core import Platform

log = logging.getLogger("cityops.notify")
BATCH = 50
# A channel the city has not configured yet: its rows wait (no attempt counted) and are looked
# at again after this, so that configuring SMTP later sends what was queued meanwhile.
UNCONFIGURED = "unconfigured: "
UNCONFIGURED_WAIT_S = 300.0


@dataclass(frozen=True)
class Job:
    id: int
    case_id: int
    seq: int
    subscription_id: int
    channel: str
    address: str
    subject: str
    body: str
    attempts: int

    @property
    def key(self) -> str:
        return f"cityops.{self.case_id}.{self.seq}.{self.subscription_id}.{self.channel}"

    @property
    def message_id(self) -> str:
        return f"<{self.key}@cityops>"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(repo: Any, platform: Platform, owner: str, now: datetime, limit: int = BATCH) -> list[Job]:
    """Lease up to `limit` due rows to `owner` (a write op: one worker at a time gets a row)."""
    cfg = load_config(repo.conn)
    until = now + timedelta(seconds=cfg.lease_s)
    rows = repo.conn.execute(
        "UPDATE notify_outbox SET lease_owner = ?, lease_until = ? WHERE id IN ("
        " SELECT id FROM notify_outbox WHERE status = 'pending' AND next_at <= ?"
        " AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_at, id LIMIT ?)"
        " RETURNING id, case_id, seq, subscription_id, channel, address, subject, body, attempts",
        (owner, to_us(until), to_us(now), to_us(now), limit),
    ).fetchall()
    return sorted((Job(*tuple(r)) for r in rows), key=lambda j: j.id)


def mark(repo: Any, platform: Platform, owner: str, results: list[tuple[int, str | None]], now: datetime) -> None:
    """Record what happened: sent, or due again after a backoff (failed after max_attempts)."""
    cfg = load_config(repo.conn)
    conn = repo.conn
    for row_id, error in results:
        if error is None:
            # Sent wins even if the lease ran out meanwhile: better than another send.
            conn.execute(
                "UPDATE notify_outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
                " lease_owner = NULL, lease_until = NULL, last_error = '' WHERE id = ? AND status = 'pending'",
                (to_us(now), row_id))
            continue
        row = conn.execute("SELECT attempts FROM notify_outbox WHERE id = ? AND lease_owner = ?",
                           (row_id, owner)).fetchone()
        if row is None:
            continue  # the lease passed to another worker: its result counts
        if error.startswith(UNCONFIGURED):
            conn.execute(
                "UPDATE notify_outbox SET next_at = ?, lease_owner = NULL, lease_until = NULL, last_error = ?"
                " WHERE id = ?", (to_us(now + timedelta(seconds=UNCONFIGURED_WAIT_S)), error, row_id))
            continue
        attempts = int(row[0]) + 1
        status = "failed" if attempts >= cfg.max_attempts else "pending"
        conn.execute(
            "UPDATE notify_outbox SET status = ?, attempts = ?, next_at = ?, lease_owner = NULL,"
            " lease_until = NULL, last_error = ? WHERE id = ?",
            (status, attempts, to_us(next_retry(attempts, cfg, now)), error[:500], row_id))


def email(job: Job, cfg: NotifyConfig) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = cfg.smtp_from
    msg["To"] = job.address
    msg["Subject"] = job.subject
    msg["Message-ID"] = job.message_id  # the same on every try: a repeat is recognisable
    msg["Date"] = formatdate(localtime=False)
    msg.set_content(job.body)
    return msg


def _send_emails(jobs: list[Job], cfg: NotifyConfig) -> list[tuple[int, str | None]]:
    if not cfg.smtp_host:
        return [(j.id, UNCONFIGURED + "e-mail (notify.smtp_host)") for j in jobs]
    out: list[tuple[int, str | None]] = []
    try:
        with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=15) as smtp:
            for job in jobs:
                try:
                    smtp.send_message(email(job, cfg))
                    out.append((job.id, None))
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
                    out.append((job.id, f"refused: {exc}"))
    except (OSError, smtplib.SMTPException) as exc:
        done = {i for i, _ in out}
        out += [(j.id, f"smtp: {exc}") for j in jobs if j.id not in done]
    return out


def _post_json(url: str, payload: bytes, key: str, allow: Sequence[Network] = (), vet: bool = True) -> str | None:
    """A subscriber's webhook is vetted again now (DNS may have changed since it was given) and
    called at the vetted address, no redirect followed; the city's SMS gateway is configuration."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": key, "User-Agent": "cityops-notify"}
    return egress.post(url, payload, headers, allow, timeout=15, vet_address=vet)


def deliver(jobs: list[Job], cfg: NotifyConfig, allow: Sequence[Network] = ()) -> list[tuple[int, str | None]]:
    """Send each job in its channel; returns (row id, error or None). Blocking: call off-loop.
    `allow`: the networks the city allows webhooks to reach although not public."""
    results = _send_emails([j for j in jobs if j.channel == "email"], cfg)
    for job in jobs:
        if job.channel == "sms":
            if not cfg.sms_url:
                results.append((job.id, UNCONFIGURED + "SMS (notify.sms_url)"))
                continue
            payload = orjson.dumps({"id": job.key, "to": job.address, "text": job.body})
            results.append((job.id, _post_json(cfg.sms_url, payload, job.key, vet=False)))
        elif job.channel == "webhook":
            results.append((job.id, _post_json(job.address, job.body.encode(), job.key, allow)))
    return results


def _settings(platform: Platform) -> tuple[NotifyConfig, Sequence[Network]]:
    with platform.store.read() as repo:
        return load_config(repo.conn), load_security(repo.conn).egress_allow


def run_once(platform: Platform, owner: str | None = None) -> int:
    """Claim, send and mark one batch synchronously (the CLI worker); returns rows tried."""
    from cityops.core import utcnow

    owner = owner or worker_name()
    jobs = platform.store.write(lambda repo: claim(repo, platform, owner, utcnow()))
    if not jobs:
        return 0
    cfg, allow = _settings(platform)
    results = deliver(jobs, cfg, allow)
    platform.store.write(lambda repo: mark(repo, platform, owner, results, utcnow()))
    return len(jobs)


async def worker(platform: Platform, every: float = 2.0) -> None:
    """The server's sender: runs until cancelled; a failing round is logged and retried."""
    from cityops.core import utcnow

    owner = worker_name()
    while True:
        try:
            jobs = await platform.awrite(claim, owner, utcnow())
            if jobs:
                cfg, allow = await asyncio.to_thread(_settings, platform)
                results = await asyncio.to_thread(deliver, jobs, cfg, allow)
                await platform.awrite(mark, owner, results, utcnow())
                continue  # more may be due right away
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the notification sender's round failed")
        await asyncio.sleep(every)
