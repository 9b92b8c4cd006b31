"""`cityops stream …`: turn the event stream on or off (settings read by `cityops serve`)."""

from __future__ import annotations

import click

from cityops.clitools import db_option as _db
from cityops.clitools import open_db as _platform


@click.command("stream")
@_db
@click.option("--nats", default=None, help="NATS server URL, e.g. nats://127.0.0.1:4222 (JetStream on)")
@click.option("--kafka", default=None, help="Kafka bootstrap server HOST:PORT (the same events to a topic)")
@click.option("--kafka-topic", default=None, help="Kafka topic [default: cityops.v1.events]")
@click.option("--name", "stream_name", default=None, help="JetStream stream name [default: CITYOPS]")
@click.option("--root", default=None, help="subject root [default: cityops]: events on ROOT.v1.>")
@click.option("--off", is_flag=True, help="stop publishing (NATS and Kafka)")
@click.option("--status", is_flag=True, help="show the settings and the outbox's counts")
def stream(db: str, nats: str | None, kafka: str | None, kafka_topic: str | None, stream_name: str | None,
           root: str | None, off: bool, status: bool) -> None:
    """事件流 / Event stream: have `cityops serve` publish every case step, detection, warning,
    reading batch and indicator snapshot to NATS JetStream (and Kafka), and take readings in
    from it (docs/stream.md)."""
    from cityops.stream import models as m

    if not (off or status or nats or kafka):
        raise click.UsageError("give --nats URL, --kafka HOST:PORT, --off or --status")
    if off and (nats or kafka):
        raise click.UsageError("--off turns publishing off: give it alone")
    try:
        if root:
            m.check_root(root)
        if stream_name:
            m.check_stream(stream_name)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if nats and not nats.startswith(("nats://", "tls://")):
        raise click.BadParameter(f"{nats!r}: a NATS URL starts with nats:// or tls://", param_hint="--nats")
    changes: dict[str, str] = {}
    if off:
        changes = {m.NATS_SETTING: "", m.KAFKA_SETTING: ""}
    for key, value in ((m.NATS_SETTING, nats), (m.KAFKA_SETTING, kafka), (m.KAFKA_TOPIC_SETTING, kafka_topic),
                       (m.STREAM_SETTING, stream_name), (m.ROOT_SETTING, root)):
        if value:
            changes[key] = value
    p = _platform(db)
    try:
        if changes:
            def op(repo: object) -> None:
                for key, value in changes.items():
                    repo.set_setting(key, value)  # type: ignore[attr-defined]
            p.store.write(op)
        with p.store.read() as repo:
            settings = {k: repo.get_setting(k) or "" for k in (
                m.NATS_SETTING, m.STREAM_SETTING, m.ROOT_SETTING, m.KAFKA_SETTING, m.KAFKA_TOPIC_SETTING)}
            from cityops.stream.outbox import counts

            total, pending = counts(repo.conn)
            cursor = repo.get_setting(m.KAFKA_CURSOR_SETTING) or "0"
    finally:
        p.close()
    if off:
        click.echo("事件流已关闭 / event stream off")
    elif not status:
        click.echo(f"事件流已开启 / event stream on (used by the next `cityops serve`): "
                   f"NATS {settings[m.NATS_SETTING] or '-'}, Kafka {settings[m.KAFKA_SETTING] or '-'}")
    defaults = {m.STREAM_SETTING: m.DEFAULT_STREAM, m.ROOT_SETTING: m.DEFAULT_ROOT,
                m.KAFKA_TOPIC_SETTING: m.DEFAULT_KAFKA_TOPIC}
    for key, value in settings.items():
        click.echo(f"{key}\t{value or (defaults[key] + ' (default)' if key in defaults else '')}")
    click.echo(f"outbox\t{total} events, {pending} not yet on NATS; Kafka has up to outbox id {cursor}")
