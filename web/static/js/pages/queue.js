// Fast-track queue: the ordered queue with priority reasons and SLA clocks, "take next" (the lease),
// and the claim view: stages, documents checklist, advance payments, history.
import { get, post } from "../api.js";
import { t } from "../i18n.js";
import {
  busy, changeDetector, confirmButton, debounce, duration, h, keptFields, money, replace, serverNow, showError, time, toast,
} from "../ui.js";

const STAGES = ["reported", "surveyed", "assessed", "documents_reviewed", "adjudicated", "closed_paid"];
const QUEUE_PAGE = 200;
const FLAGS = ["person_trapped", "person_injured", "vehicle_in_water", "in_travel_lane", "cannot_drive"];

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function slaText(sla) {
  if (!sla || !sla.due_at) return "–";
  const name = t(`sla.${sla.clock.split(":")[0]}`);
  const left = (Date.parse(sla.due_at) - serverNow()) / 1000;
  return `${name}: ${left >= 0 ? t("common.in", { n: duration(left) }) : t("common.late", { n: duration(left) })}`;
}

export function stepper(claim, testid = "stages") {
  return h("ol", { class: "stepper", "data-testid": testid }, claim.stages.map((step) =>
    h("li", { class: `${step.reached_at ? "done" : ""}${step.current ? " current" : ""}`, "data-stage": step.stage },
      h("span", { class: "name" }, t(`stage.${step.stage}`)),
      h("span", { class: "when" }, step.reached_at ? time(step.reached_at, true) : ""))));
}

export function mount(root, { me, args }) {
  const toolbar = h("div", { class: "toolbar" });
  const list = h("section", { class: "queue-list", "data-testid": "queue" });
  const detail = h("section", { class: "claim-detail", "data-testid": "claim-view" });
  root.append(toolbar, h("div", { class: "queue-layout" }, list, detail));
  let entries = [];
  let claimId = null;
  let claim = null;
  let payments = [];
  let names = {};
  let greenOnly = false;
  let advanceKey = uuid();
  const fields = keptFields();
  const claimChanged = changeDetector();

  async function learnNames(ids) {
    const missing = [...new Set(ids.filter((id) => id && !(id in names)))];
    if (!missing.length) return;
    const found = await get(`/v1/console/users?ids=${missing.join(",")}`);
    names = { ...names, ...found.users };
  }

  const nameOf = (id) => (id === me.id ? me.name : names[id] || `#${id}`);

  const reloadQueue = debounce(async () => {
    try {
      const data = await get(`/v1/queue?limit=${QUEUE_PAGE}${greenOnly ? "&fast_track=true" : ""}`);
      entries = data.queue;
      await learnNames(entries.map((e) => e.lease?.holder_id));
      renderQueue();
    } catch (error) {
      showError(error);
    }
  }, 150);

  const reloadClaim = debounce(async () => {
    if (!claimId) return renderClaim();
    try {
      [claim, payments] = await Promise.all([get(`/v1/claims/${claimId}`), get(`/v1/claims/${claimId}/payments`)
        .then((r) => r.payments)]);
      await learnNames([claim.lease?.holder_id, ...claim.history.map((e) => e.actor_id),
        ...payments.map((p) => p.requested_by)]);
      if (claimChanged([claim, payments])) renderClaim();
    } catch (error) {
      showError(error);
    }
  }, 150);

  function renderToolbar() {
    const breached = entries.filter((e) => e.sla.breached).length;
    const takeNext = h("button", { class: "primary big", "data-testid": "take-next" }, t("queue.takeNext"));
    takeNext.addEventListener("click", async () => {
      const result = await busy(takeNext, () => post("/v1/queue/next", { fast_track_only: greenOnly }));
      if (result === undefined) return;
      if (!result.claim) return toast(t("queue.nothingToTake"));
      location.hash = `#/queue/claim/${result.claim.id}`;
      reloadQueue();
    });
    const filter = h("input", { type: "checkbox", "data-testid": "green-only" });
    filter.checked = greenOnly;
    filter.addEventListener("change", () => { greenOnly = filter.checked; reloadQueue(); });
    replace(toolbar, takeNext, h("label", { class: "check" }, filter, t("queue.greenOnly")),
      h("span", { class: "stat" }, t("queue.waiting", { n: entries.length < QUEUE_PAGE ? entries.length : `${QUEUE_PAGE}+` })),
      breached ? h("span", { class: "stat bad" }, t("queue.breached", { n: breached })) : null);
  }

  function renderQueue() {
    renderToolbar();
    if (!entries.length) return replace(list, h("p", { class: "muted big-empty" }, t("queue.empty")));
    return replace(list, h("table", { class: "grid queue" },
      h("thead", {}, h("tr", {}, ["rank", "claim", "customer", "stage", "why", "sla", "lease"].map((c) =>
        h("th", {}, t(`queue.col.${c}`))))),
      h("tbody", {}, entries.map((entry, index) => h("tr", {
        class: `${entry.claim_id === claimId ? "selected" : ""}${entry.sla.breached ? " late" : ""}`,
        "data-testid": "queue-row", "data-claim-id": entry.claim_id,
        onclick: () => { location.hash = `#/queue/claim/${entry.claim_id}`; },
      },
      h("td", { class: "rank" }, index + 1),
      h("td", {}, h("b", {}, entry.claim_id), entry.fast_track ? h("span", { class: "chip green" }, entry.cat_code) : null),
      h("td", {}, entry.customer_id),
      h("td", {}, t(`stage.${entry.stage}`), entry.waiting_for ? h("div", { class: "muted small" }, t("queue.waitingDocs")) : null),
      h("td", { class: "reasons" }, entry.reasons.map((r) => h("span", { class: "chip reason" }, r))),
      h("td", { class: entry.sla.breached ? "bad" : "" }, slaText(entry.sla)),
      h("td", {}, entry.lease ? `${nameOf(entry.lease.holder_id)} · ${time(entry.lease.expires_at)}` : ""))))));
  }

  function leaseLine() {
    if (!claim.lease) return null;
    const mine = claim.lease.holder_id === me.id;
    const text = mine ? t("claim.leasedToYou", { t: time(claim.lease.expires_at) })
      : t("claim.leasedTo", { u: nameOf(claim.lease.holder_id), t: time(claim.lease.expires_at) });
    const release = mine || ["supervisor", "manager"].includes(me.role)
      ? h("button", { class: "small", "data-testid": "release", onclick: async (event) => {
        if (await busy(event.currentTarget, () => post(`/v1/claims/${claim.id}/release`, {}))) {
          toast(t("claim.released", { n: claim.id }));
          reloadClaim();
          reloadQueue();
        }
      } }, t("claim.release")) : null;
    return h("div", { class: `lease${mine ? " mine" : ""}`, "data-testid": "lease" }, text, " ", release);
  }

  function stageActions() {
    const index = STAGES.indexOf(claim.stage);
    if (index < 0 || index >= STAGES.length - 1) return h("p", { class: "muted" }, t("claim.closed"));
    const next = STAGES[index + 1];
    const note = fields.get("note", () => h("input", { type: "text", placeholder: t("common.note"), "data-testid": "stage-note" }));
    const estimate = next === "assessed"
      ? fields.get("estimate", () => h("input", { type: "number", min: "0", step: "0.01", placeholder: t("claim.estimate"),
        "data-testid": "estimate", value: claim.estimate ?? "" })) : null;
    const move = h("button", { class: "primary", "data-testid": "advance-stage" }, t("claim.moveTo", { s: t(`stage.${next}`) }));
    move.addEventListener("click", async () => {
      const body = { to: next, note: note.value || undefined };
      if (estimate) body.estimate = estimate.value;
      if (await busy(move, () => post(`/v1/claims/${claim.id}/transition`, body))) {
        fields.forget("note", "estimate", "rejectNote");
        toast(t("claim.moved", { n: claim.id, s: t(`stage.${next}`) }));
        reloadClaim();
        reloadQueue();
      }
    });
    const rejectNote = fields.get("rejectNote", () => h("input", { type: "text", placeholder: t("claim.rejectNote"),
      "data-testid": "reject-note" }));
    const reject = confirmButton(t("claim.reject"), { class: "danger", "data-testid": "reject" }, async () => {
      await post(`/v1/claims/${claim.id}/transition`, { to: "rejected", note: rejectNote.value });
      toast(t("claim.moved", { n: claim.id, s: t("stage.rejected") }));
      reloadClaim();
      reloadQueue();
    });
    return h("div", { class: "stage-actions" }, h("div", { class: "row" }, estimate, note, move),
      h("div", { class: "row" }, rejectNote, reject));
  }

  function documentsChecklist() {
    const uploaded = claim.documents.uploaded;
    return h("ul", { class: "checklist", "data-testid": "documents" }, claim.documents.required.map((kind) => {
      const latest = uploaded.filter((d) => d.kind === kind).at(-1);
      const missing = claim.documents.missing.includes(kind);
      return h("li", { class: missing ? "missing" : "ok", "data-kind": kind },
        h("span", { class: "mark" }, missing ? "✗" : "✓"), " ", t(`doc.${kind}`), " ",
        h("span", { class: "muted" }, missing ? t("claim.missing")
          : `${t(`doc.${latest.status}`)} · ${latest.filename} · ${time(latest.uploaded_at)}`));
    }));
  }

  function paymentsPanel() {
    const rows = payments.length ? h("table", { class: "grid" }, h("tbody", {}, payments.map((p) =>
      h("tr", { "data-testid": "payment", "data-state": p.state },
        h("td", {}, `#${p.id}`), h("td", {}, t(`kind.${p.kind}`)), h("td", { class: "num" }, money(p.amount)),
        h("td", {}, h("span", { class: `chip pay-${p.state}` }, t(`pay.${p.state}`))),
        h("td", { class: "muted" }, p.state === "pending_approval" ? t("claim.needs", { r: t(`role.${p.required_role}`) })
          : `${nameOf(p.requested_by)} · ${time(p.created_at)}`)))))
      : h("p", { class: "muted" }, t("claim.noPayments"));
    const open = STAGES.indexOf(claim.stage) >= 0 && claim.stage !== "closed_paid";
    if (!open) return [rows];
    if (!claim.estimate) return [rows, h("p", { class: "muted" }, t("claim.noEstimate"))];
    const ratio = me.advance_ratio;
    const amount = fields.get("amount", () => h("input", { type: "number", min: "0.01", step: "0.01",
      placeholder: t("claim.amount"), "data-testid": "advance-amount" }));
    const reason = fields.get("reason", () => h("input", { type: "text", placeholder: t("claim.reason"),
      "data-testid": "advance-reason" }));
    const request = h("button", { class: "primary", "data-testid": "request-advance" }, t("claim.requestAdvance"));
    request.addEventListener("click", async () => {
      const body = { amount: amount.value, kind: "advance", reason: reason.value || undefined };
      // The same key for every click of this form: a double click or a retry makes one payment.
      const payment = await busy(request, () => post(`/v1/claims/${claim.id}/payments`, body, { "Idempotency-Key": advanceKey }));
      if (payment) {
        advanceKey = uuid();
        fields.forget("amount", "reason");
        toast(t("claim.requested", { n: payment.id, s: t(`pay.${payment.state}`) }));
        reloadClaim();
      }
    });
    return [rows, h("p", { class: "muted small" }, t("claim.cap", { c: money(Math.floor(Number(claim.estimate) * ratio * 100) / 100), r: `${Math.round(ratio * 100)}%`,
      e: money(claim.estimate) })),
      h("div", { class: "row" }, amount, reason, request)];
  }

  function facts() {
    const flags = FLAGS.filter((f) => claim.flags[f]).map((f) => t(`flag.${f}`));
    if (claim.flags.flood_depth_level) flags.push(t("flag.flood_depth_level", { n: claim.flags.flood_depth_level }));
    const row = (label, value) => [h("dt", {}, label), h("dd", {}, value || "–")];
    return h("dl", { class: "facts" },
      row(t("claim.customer"), claim.customer_id), row(t("claim.lossAt"), time(claim.loss_at, true)),
      row(t("claim.location"), `${claim.location.lat.toFixed(4)}, ${claim.location.lon.toFixed(4)}`),
      row(t("claim.description"), claim.description), row(t("claim.flags"), flags.join(" · ")),
      row(t("claim.estimate"), claim.estimate ? money(claim.estimate) : null),
      row(t("queue.col.sla"), slaText(claim.sla)),
      row(t("claim.rescue"), claim.rescue ? `${t(`state.${claim.rescue.state}`)}${claim.rescue.provider ? ` · ${claim.rescue.provider}` : ""}` : null));
  }

  function renderClaim() {
    detail.hidden = !claimId;
    root.querySelector(".queue-layout").classList.toggle("with-claim", Boolean(claimId));
    if (!claimId || !claim) return replace(detail, claimId ? h("p", { class: "muted" }, t("common.loading")) : null);
    return replace(detail,
      h("header", {}, h("h2", {}, t("claim.title", { n: claim.id })),
        h("span", { class: `chip ${claim.fast_track ? "green" : ""}` }, claim.fast_track ? t("claim.green", { c: claim.cat_code }) : t("claim.ordinary")),
        h("span", { class: "chip stage", "data-testid": "claim-stage" }, t(`stage.${claim.stage}`))),
      leaseLine(),
      claim.priority_reasons.length ? h("div", { class: "reasons" }, claim.priority_reasons.map((r) => h("span", { class: "chip reason" }, r))) : null,
      stepper(claim), stageActions(),
      h("div", { class: "two" },
        h("div", {}, h("h3", {}, t("claim.facts")), facts()),
        h("div", {}, h("h3", {}, t("claim.documents")), documentsChecklist())),
      h("h3", {}, t("claim.payments")), paymentsPanel(),
      h("h3", {}, t("claim.history")),
      h("ol", { class: "history", "data-testid": "history" }, [...claim.history].reverse().map((e) => h("li", {},
        h("span", { class: "muted" }, time(e.at, true)), " ", h("b", {}, e.action),
        e.to && e.from !== e.to ? ` ${e.from ? `${t(`stage.${e.from}`)} → ` : ""}${t(`stage.${e.to}`)}` : "",
        e.actor_id ? ` · ${nameOf(e.actor_id)}` : "", e.note ? h("span", { class: "muted" }, ` · ${e.note}`) : ""))));
  }

  function navigate(rest) {
    const next = rest[0] === "claim" && /^\d+$/.test(rest[1] || "") ? Number(rest[1]) : null;
    if (next !== claimId) {
      claimId = next;
      claim = null;
      advanceKey = uuid();
      fields.forget();
      claimChanged(null);
    }
    renderClaim();
    reloadClaim();
    renderQueue();
  }

  navigate(args);
  reloadQueue();
  const ticker = setInterval(() => { renderQueue(); }, 30000);
  return {
    navigate,
    changed(topic, data) {
      if (["queue", "payments", "reconnect"].includes(topic)) reloadQueue();
      const touched = (data.claims || []).some((c) => c.claim_id === claimId);
      if (topic === "reconnect" || touched || (topic === "rescue" && claimId)) reloadClaim();
    },
    unmount() {
      clearInterval(ticker);
    },
  };
}
