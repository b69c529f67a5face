"""After the loss: the green channel (docs/architecture.md, "A claim, from report to payment").

catevents  declaring, proposing, confirming and closing catastrophe events
claims     FNOL intake, green-channel eligibility, the six-stage state machine, documents
queue      fast-track priority, SLA clocks, adjuster leases
rescue     providers, offers and their cascade, surge batch assignment, job states
payments   advance payments, authority, approvals, the payment gateway
demo       the typhoon story of `haven demo`
service    the operations routes and tasks call: one unit of work each (transaction, retries, effects)
requests   what callers ask, as pydantic models; responses: what they get back
rules      the configurable rules as typed objects, built at the composition roots
dao/       the queries; read_models: the console's views; metrics: the /metrics figures

Every rule function takes an open SQLAlchemy session and commits nothing itself: the service (or the
demo) owns the transaction, and after it commits runs the effects the function asked for
(greenchannel.effects), so nothing is queued for a change that rolled back.
"""
