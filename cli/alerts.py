"""`haven alerts parse|ingest`, `haven feeds add|list|poll|import`, `haven bench parse` (docs/architecture.md).

`haven alerts parse` contract: stdout `{"alerts": [...]}` (and/or `{"entries": [...]}` for an index);
exit 0 when every file parsed; exit 2 when any is invalid, with `FILE: /alert/info[1]/area[2]/polygon:
<reason>` lines on stderr and nothing on stdout. Notes (recovered encodings, swapped coordinates,
signature status) go to stderr as `FILE: path: note: ...` without changing the exit code.
"""

from __future__ import annotations

import json
import sys
import time
import tomllib
from pathlib import Path

import click

from cli.bench import bench
from cli.common import ensure_database, progress, settings_or_exit
from cli.root import cli

EXIT_INVALID = 2
CORPUS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "alerts"
DEMO_ALERTS = Path(__file__).resolve().parent.parent / "config" / "demo"


@cli.group()
def alerts():
    """Warning messages: parse and ingest CAP, NWS GeoJSON, ATOM/RSS, QWeather, typhoon tracks."""


@cli.group()
def feeds():
    """Warning feeds Haven polls."""


def _notes(name: str, message) -> list[str]:
    lines = [f"{name}: {n.get('path', '/')}: note: {n['code']}: {n.get('detail', '')}" for n in message.notes]
    for parsed in message.alerts:
        lines += [f"{name}: {f.get('path', '/')}: note: {f['code']}: {f.get('detail', '')}"
                  for f in parsed.flags if f.get("code") not in ("provider-values",)]
        if parsed.signature != "unsigned":
            detail = f" ({parsed.signature_detail})" if parsed.signature_detail else ""
            lines.append(f"{name}: /alert/Signature: note: signature {parsed.signature}{detail}")
    for entry in message.entries or []:
        lines += [f"{name}: {f['path']}: note: {f['code']}: {f['detail']}" for f in entry.get("flags", [])]
    return lines


@alerts.command("parse")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Compact JSON on one line (default: indented).")
@click.option("--admin-code", default=None, help="CN-ADCODE of the polled location, for QWeather warnings.")
def parse(files, as_json, admin_code):
    """Parse and validate files; print the normalized alerts (or an index's entries)."""
    from alerts.reading.errors import MessageInvalid
    from alerts.reading.parse import parse_message

    max_bytes = settings_or_exit().max_body_bytes
    found_alerts, entries, errors, notes = [], [], [], []
    any_index = False
    for path in files:
        try:
            message = parse_message(path.read_bytes(), admin_code=admin_code, max_bytes=max_bytes)
        except MessageInvalid as exc:
            errors += [f"{path}: {problem}" for problem in exc.problems]
            continue
        errors += [f"{path}: {problem}" for rejected in message.rejected for problem in rejected.problems]
        notes += _notes(str(path), message)
        found_alerts += [parsed.alert for parsed in message.alerts]
        if message.is_index:
            any_index = True
            entries += message.entries
    for line in notes:
        click.echo(line, err=True)
    if errors:
        for line in errors:
            click.echo(line, err=True)
        sys.exit(EXIT_INVALID)
    output = {"entries": entries} if any_index else {}
    if found_alerts or not any_index:
        output["alerts"] = found_alerts
    click.echo(json.dumps(output, ensure_ascii=False, indent=None if as_json else 2))


def _read_source(source: str) -> tuple[bytes, str | None]:
    if source.startswith(("http://", "https://")):
        import asyncio

        from alerts.reading.feeds import fetch_url

        fetched = asyncio.run(fetch_url(source))
        if fetched.error or fetched.body is None:
            raise click.ClickException(f"{source}: {fetched.error or f'HTTP {fetched.status}'}")
        return fetched.body, fetched.content_type
    path = Path(source)
    if not path.is_file():
        raise click.ClickException(f"{source}: no such file (or give an http(s) URL)")
    return path.read_bytes(), None


@alerts.command("ingest")
@click.argument("sources", nargs=-1, required=True)
@click.option("--admin-code", default=None, help="CN-ADCODE of the polled location, for QWeather warnings.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def ingest(sources, admin_code, as_json):
    """Store alerts from FILE or URL (deduped, chained; invalid ones quarantined) and queue matching."""
    from alerts.reading.ingest import Origin
    from alerts.service import ingest

    ensure_database()
    settings = settings_or_exit()
    outcomes, refused = [], False
    for source in sources:
        raw, content_type = _read_source(source)
        result = ingest(raw, Origin(source=source, content_type=content_type, admin_code=admin_code,
                                            max_bytes=settings.max_body_bytes,
                                            lifetime_h=settings.alert_default_lifetime_h))
        outcome = {"source": source, **result.as_dict()}
        outcomes.append(outcome)
        for problem in result.problems:
            click.echo(f"{source}: {problem.splitlines()[0]} (quarantined)", err=True)
        refused |= bool(result.problems) and not (result.new_alert_ids or result.duplicate_alert_ids)
        if not as_json:
            click.echo(f"{source}: {len(result.new_alert_ids)} new, {len(result.duplicate_alert_ids)} already "
                       f"stored, {len(result.quarantine_ids)} quarantined"
                       + (f", {len(result.entries)} index entries (poll the feed to fetch them)"
                          if result.entries else ""))
    if as_json:
        click.echo(json.dumps({"ingested": outcomes}, ensure_ascii=False))
    if refused:
        sys.exit(EXIT_INVALID)


@feeds.command("add")
@click.argument("url")
@click.option("--kind", required=True, type=click.Choice(["cap-atom", "cap-rss", "cap-xml", "nws-geojson",
                                                          "qweather", "qweather-v1", "typhoon-track"]))
@click.option("--every", default="60s", show_default=True, help="Poll interval: 30s, 5m, 1h.")
@click.option("--admin-code", default=None, help="CN-ADCODE of the location a QWeather feed polls.")
@click.option("--name", default=None, help="A label (the storm name for typhoon-track feeds).")
@click.option("--require-signature", is_flag=True, help="Quarantine alerts without a verified XML signature.")
@click.option("--disabled", is_flag=True, help="Register without polling it yet.")
def add(url, kind, every, admin_code, name, require_signature, disabled):
    """Register a feed to poll."""
    from alerts.reading.feedstate import FeedRejected, add_feed
    from store.db import session_scope

    ensure_database()
    try:
        with session_scope() as session:
            feed = add_feed(session, url, kind, every, enabled=not disabled, require_signature=require_signature,
                            admin_code=admin_code, name=name)
            feed_id, every_s = feed.id, feed.every_s
    except FeedRejected as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"feed {feed_id}: {kind} {url} every {every_s:g} s" + (" (disabled)" if disabled else ""))
    if kind == "qweather-v1":
        _report_points(feed_id)


def _report_points(feed_id: int) -> None:
    """A point-polled feed: how many points, and loudly, how many book assets no point can cover."""
    from alerts.reading.qweather_polling import prepare_points

    try:
        prepared = prepare_points(None, feed_id, force=False, refresh=True)
    except Exception as exc:  # an unreadable gazetteer must not undo the registration
        click.echo(f"feed {feed_id}: points not chosen yet: {exc}", err=True)
        return
    changed = prepared["changed"] or {}
    click.echo(f"feed {feed_id}: {changed.get('points', 0)} point(s), one per county holding book assets")
    _warn_outside(feed_id, prepared["assets_outside_gazetteer"])


def _warn_outside(feed_id: int, outside: int) -> None:
    if outside:
        click.secho(f"WARNING: feed {feed_id}: {outside} book asset(s) lie outside the gazetteer in use: no point "
                    "covers them, so they will never be warned. Set HAVEN_GAZETTEER_PATH=cnmaps (all of China, "
                    "pip install '.[china]').", err=True, fg="red", bold=True)


@feeds.command("import")
@click.argument("file", default=str(Path(__file__).resolve().parent.parent / "config" / "feeds.toml"),
                type=click.Path(exists=True, dir_okay=False))
def import_feeds(file):
    """Register the feeds listed in a TOML file (default: config/feeds.toml, all disabled)."""
    from alerts.reading.feedstate import FeedRejected, add_feed
    from store.db import session_scope

    ensure_database()
    listed = tomllib.loads(Path(file).read_text(encoding="utf-8")).get("feed", [])
    for item in listed:
        try:
            with session_scope() as session:
                feed = add_feed(session, item["url"], item["kind"], item.get("every", "60s"),
                                enabled=bool(item.get("enabled", False)), admin_code=item.get("admin_code"),
                                name=item.get("name"), require_signature=bool(item.get("require_signature")))
                click.echo(f"feed {feed.id}: {item['kind']} {item['url']}")
        except FeedRejected as exc:
            click.echo(f"skipped {item.get('url')}: {exc}", err=True)


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_feeds(as_json):
    """Feeds and their health."""
    from alerts.reading.feedstate import feed_json
    from alerts.reading.feedstate import list_feeds as all_feeds
    from store.db import session_scope
    from store.types import utcnow

    ensure_database()
    with session_scope() as session:
        rows = [feed_json(feed, utcnow()) for feed in all_feeds(session)]
    if as_json:
        click.echo(json.dumps({"feeds": rows}, default=str, ensure_ascii=False))
        return
    for row in rows:
        health = row["health"]
        click.echo(f"{row['id']:>4} {health['status']:<8} {row['kind']:<13} every {row['every_s']:>6g}s "
                   f"failures {health['consecutive_failures']:>2} alerts {health['alerts_seen']:>5}  {row['url']}"
                   + (f"\n       last error: {health['last_error']}" if health["last_error"] else "")
                   + (f"\n       WARNING: {health['assets_outside_gazetteer']} book asset(s) outside the gazetteer "
                      "in use: never warned (HAVEN_GAZETTEER_PATH=cnmaps)" if health.get("assets_outside_gazetteer")
                      else "")
                   + (f"\n       {health['entries_without_cap_link']} index entries without a CAP link"
                      if health.get("entries_without_cap_link") else ""))


@feeds.command("poll")
@click.option("--feed", "feed_ids", multiple=True, type=int, help="Only this feed (repeatable).")
@click.option("--all", "force", is_flag=True, help="Poll every enabled feed now, due or not.")
def poll(feed_ids, force):
    """Poll due feeds once and print what each answered."""
    from alerts.service import poll_feeds

    ensure_database()
    results = poll_feeds(feed_ids=list(feed_ids) or None, force=force or bool(feed_ids))
    if not results:
        click.echo("no feed was due (use --all to poll every enabled feed now)", err=True)
    for result in results:
        click.echo(f"feed {result['feed_id']}: HTTP {result['status']}, {len(result['new_alerts'])} new alerts, "
                   f"{len(result['quarantined'])} quarantined" + (f", error: {result['error']}" if result["error"] else ""))
        if result.get("assets_outside_gazetteer"):
            _warn_outside(result["feed_id"], result["assets_outside_gazetteer"])


def _corpus_files(directories: list[Path]) -> list[tuple[str, bytes]]:
    files = []
    for directory in directories:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and path.suffix.lower() in (".xml", ".atom", ".rss", ".json", ".geojson", ".cap"):
                files.append((str(path.relative_to(directory.parent)), path.read_bytes()))
    return files


@bench.command("parse")
@click.option("--seconds", default=5.0, show_default=True, help="How long to keep parsing.")
@click.option("--dir", "directories", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Directories of messages (default: the bundled corpus fixtures and config/demo).")
def bench_parse(seconds, directories):
    """Alerts parsed (and validated, signatures checked) per second over the corpus, on one core."""
    from alerts.reading.errors import MessageInvalid
    from alerts.reading.parse import parse_message

    corpus = _corpus_files(list(directories) or [CORPUS, DEMO_ALERTS])
    if not corpus:
        raise click.ClickException("no messages found to parse")
    per_format: dict[str, list[float]] = {}
    documents = parsed_alerts = refused = 0
    started = time.perf_counter()
    bar = progress(None, "parsing", unit="docs")
    while time.perf_counter() - started < seconds:
        for _name, raw in corpus:
            t0 = time.perf_counter()
            try:
                message = parse_message(raw, max_bytes=10 * 1024 * 1024)
                kind, count = message.format, len(message.alerts)
            except MessageInvalid:
                kind, count = "refused", 0
                refused += 1
            spent = per_format.setdefault(kind, [0.0, 0, 0])
            spent[0] += time.perf_counter() - t0
            spent[1] += 1
            spent[2] += count
            documents += 1
            parsed_alerts += count
        bar.update(len(corpus))
    bar.close()
    elapsed = time.perf_counter() - started
    click.echo(f"corpus: {len(corpus)} files; {documents} documents in {elapsed:.2f} s on one core")
    click.echo(f"alerts parsed per second: {parsed_alerts / elapsed:,.0f}  "
               f"(documents per second: {documents / elapsed:,.0f}; refused as invalid: {refused})")
    for kind, (spent, docs, count) in sorted(per_format.items()):
        click.echo(f"  {kind:<20} {docs / spent:>9,.0f} docs/s  {count / spent if count else 0:>9,.0f} alerts/s")
