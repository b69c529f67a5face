"""Alert chains (docs/architecture.md).

A chain is an original alert plus every Update/Cancel that references it, directly or not, even when a
reference arrives before the message it points to. Messages with the same sender and identifier (a
re-issue under a new `sent`, as QWeather and typhoon tracks do) belong to the same chain too.

State, decided here and stored on AlertChain:
- current_alert_id: the latest message by `sent` (a Cancel included: its msg_type tells what happened);
- effective_alert_id: the latest message that does not end the chain: its area and severity apply;
- state: `cancelled` when the latest message ends the chain (a Cancel, or an all-clear Update, see
  alerts.reading.cap.ends_chain), `expired` once the effective alert has lapsed (its `expires`, or 24 h after
  `sent` when it has none), else `active`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from alerts.reading.parsed import SEVERITY_ORDER
from alerts.reading.times import BadTime, to_utc
from store.db import is_postgresql
from store.models.alerts import Alert, AlertChain, AlertReference, ChainState

CHAIN_LOCK_KEY = 0x4A1E27  # one PostgreSQL advisory lock serialises chain linking across workers


def lock_chains(session: Session) -> None:
    """Two messages of one chain ingested at once must not start two chains."""
    if is_postgresql(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})


def _same_instant(published: str | None, instant: datetime) -> bool:
    if not published:
        return True  # QWeather names the warning it replaces without its sent time
    try:
        return to_utc(published) == instant
    except BadTime:
        return published == instant.isoformat()


def _chains_referenced_by(session: Session, alert: Alert, references: list[dict]) -> set[int]:
    chain_ids = set()
    for reference in references:
        rows = session.execute(select(Alert.chain_id, Alert.sent_at).where(
            Alert.sender == reference["sender"], Alert.identifier == reference["identifier"])).all()
        chain_ids |= {chain_id for chain_id, sent_at in rows
                      if chain_id is not None and _same_instant(reference.get("sent"), sent_at)}
    return chain_ids


def _chains_referencing(session: Session, alert: Alert) -> set[int]:
    rows = session.execute(
        select(Alert.chain_id, AlertReference.ref_sent)
        .join(AlertReference, AlertReference.alert_id == Alert.id)
        .where(AlertReference.ref_sender == alert.sender, AlertReference.ref_identifier == alert.identifier,
               Alert.id != alert.id)).all()
    return {chain_id for chain_id, ref_sent in rows if chain_id is not None and _same_instant(ref_sent, alert.sent_at)}


def _chains_of_same_identity(session: Session, alert: Alert) -> set[int]:
    rows = session.execute(select(Alert.chain_id).where(
        Alert.sender == alert.sender, Alert.identifier == alert.identifier, Alert.id != alert.id)).scalars()
    return {chain_id for chain_id in rows if chain_id is not None}


def attach(session: Session, alert: Alert, references: list[dict], now: datetime) -> AlertChain:
    """Put a just-stored alert in its chain (merging chains it joins) and recompute the chain's state."""
    chain_ids = (_chains_referenced_by(session, alert, references) | _chains_referencing(session, alert)
                 | _chains_of_same_identity(session, alert))
    if not chain_ids:
        chain = AlertChain(state=ChainState.ACTIVE)
        session.add(chain)
        session.flush()
    else:
        keep, *others = sorted(chain_ids)
        chain = session.get(AlertChain, keep)
        if others:
            session.execute(update(Alert).where(Alert.chain_id.in_(others)).values(chain_id=keep))
            for other in others:
                session.delete(session.get(AlertChain, other))
    alert.chain_id = chain.id
    session.flush()
    refresh(session, chain, now)
    return chain


def chain_alerts(session: Session, chain_id: int) -> list[Alert]:
    """The chain's messages in the order they were sent (ties: the order they arrived)."""
    return list(session.execute(select(Alert).where(Alert.chain_id == chain_id)
                                .order_by(Alert.sent_at, Alert.id)).scalars())


def refresh(session: Session, chain: AlertChain, now: datetime) -> AlertChain:
    alerts = chain_alerts(session, chain.id)
    if not alerts:
        return chain
    current = alerts[-1]
    live = [a for a in alerts if not a.ends_chain]
    effective = live[-1] if live else None
    chain.current_alert_id = current.id
    chain.effective_alert_id = effective.id if effective else None
    severities = [a.max_severity for a in live if a.max_severity in SEVERITY_ORDER]
    chain.max_severity = max(severities, key=SEVERITY_ORDER.__getitem__) if severities else None
    chain.expires_at = effective.expires_at if effective else None
    if current.ends_chain:
        chain.state, chain.cancelled_at = ChainState.CANCELLED, current.sent_at
    elif effective is not None and effective.expires_at is not None and effective.expires_at <= now:
        chain.state, chain.cancelled_at = ChainState.EXPIRED, None
    else:
        chain.state, chain.cancelled_at = ChainState.ACTIVE, None
    chain.updated_at = now
    return chain


def expire_lapsed(session: Session, now: datetime) -> list[int]:
    """Mark active chains whose effective alert has lapsed as expired; returns their ids."""
    chains = session.execute(select(AlertChain).where(
        AlertChain.state == ChainState.ACTIVE, AlertChain.expires_at.is_not(None), AlertChain.expires_at <= now)
        .with_for_update(skip_locked=True)).scalars().all()
    for chain in chains:
        chain.state, chain.updated_at = ChainState.EXPIRED, now
    return [chain.id for chain in chains]

