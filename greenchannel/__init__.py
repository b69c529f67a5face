"""After the loss: the green channel (see DESIGN.md, Domain rules from "Catastrophe (CAT) event" on).

catevents  declaring, proposing, confirming and closing catastrophe events
claims     FNOL intake, green-channel eligibility, the six-stage state machine, documents
queue      fast-track priority, SLA clocks, adjuster leases
rescue     providers, offers and their cascade, surge batch assignment, job states
payments   advance payments, authority, approvals, the payment gateway
demo       the typhoon story of `haven demo`

Every function takes an open SQLAlchemy session and commits nothing itself: the caller (a web
handler, a task, the demo) owns the transaction, and after it commits runs the effects the
function asked for (greenchannel.effects), so nothing is queued for a change that rolled back.
"""
