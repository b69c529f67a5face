// Fast-track queue: the claims staff can work now and, in their own tab, the claims waiting on the
// customer's documents; search, pages of 50, "take next" (the lease), "remind customer" (an SMS with a
// signed link, once a day), and the claim view: stages, documents checklist, advance payments, history.
import { get, post } from "../api.js";
import { lang, t } from "../i18n.js";
import { COUNTED_PAYMENT_STATES, ClaimStage, PaymentKind, PaymentState, STAGES } from "../states.js";
import {
  changeDetector, confirmButton, debounce, duration, h, keptFields, replace, serverNow, toast,
} from "../ui.js";
import { zonedTime as time } from "../zone.js";

const QUEUE_PAGE = 50;
const FLAGS = ["person_trapped", "person_injured", "vehicle_in_water", "in_travel_lane", "cannot_drive"];
const TABS = ["workable", "waiting_on_customer"];

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// Amounts as people of the page's language write them: "CN¥60,000.00" / "¥60,000.00".
export function cny(value) {
  if (value === null || value === undefined || value === "") return "–";
  return new Intl.NumberFormat(lang() === "zh-CN" ? "zh-CN" : "en-GB", { style: "currency", currency: "CNY" })
    .format(Number(value));
}

export function documentList(kinds) {
  return kinds.map((kind) => t(`doc.${kind}`)).join(lang() === "zh-CN" ? "、" : ", ");
}

// One "why first" chip in the page's language; the server gives facts, never words.
export function whyChip(fact) {
  const vars = { c: fact.cat_code, a: fact.age, l: fact.level, e: fact.amount !== undefined ? cny(fact.amount) : "" };
  // The CAT code names the storm's event, as the declaring supervisor wrote it: shown as it is.
  const event = fact.code === "green_channel" && fact.cat_code ? [" ", h("span", { "data-outside": "" }, fact.cat_code)] : [];
  return h("span", { class: `chip ${fact.code === "green_channel" ? "green" : "reason"}`, "data-code": fact.code },
    t(`why.${fact.code}`, vars), event);
}

// A refusal from the server in words of the page's language: known codes get their own sentence (with
// what the page knows, e.g. which documents are missing); anything else the server's own sentence.
export function refusalText(error, context = {}) {
  const code = error && error.code;
  const known = {
    documents_missing: () => t("refusal.documents_missing", { d: documentList(context.missing || []) }),
    above_advance_ratio: () => (context.cap !== undefined
      ? t("refusal.above_advance_ratio", { total: cny(context.total), cap: cny(context.cap), e: cny(context.estimate),
        r: `${Math.round((context.ratio ?? 0.5) * 100)}%` })
      : t("refusal.above_advance_ratio_short")),
    above_estimate: () => (context.estimate !== undefined
      ? t("refusal.above_estimate", { total: cny(context.all ?? context.total), e: cny(context.estimate) })
      : t("refusal.above_estimate_short")),
  };
  if (known[code]) return known[code]();
  if (code && t(`refusal.${code}`) !== `refusal.${code}`) return t(`refusal.${code}`);
  if (!error || !error.status) return t("refusal.network");
  return lang() === "en" && error.message && !/^HTTP \d+$/.test(error.message) ? error.message : t("refusal.other");
}

export function refusalToast(error, context) {
  toast(refusalText(error, context), "error");
}

// Runs an action with the button disabled; a refusal becomes a toast in words.
async function attempt(button, action, context) {
  button.disabled = true;
  try {
    return await action();
  } catch (error) {
    refusalToast(error, typeof context === "function" ? context(error) : context);
    return undefined;
  } finally {
    button.disabled = false;
  }
}

export function slaText(sla) {
  if (!sla || !sla.due_at) return "–";
  const name = t(`sla.${sla.clock.split(":")[0]}`);
  const left = (Date.parse(sla.due_at) - serverNow()) / 1000;
  return `${name}: ${left >= 0 ? t("common.in", { n: duration(left) }) : t("common.late", { n: duration(left) })}`;
}

function actionName(action) {
  const words = t(`action.${action}`);
  return words === `action.${action}` ? t("action.other") : words;
}

export function stepper(claim, testid = "stages") {
  return h("ol", { class: "stepper", "data-testid": testid }, claim.stages.map((step) =>
    h("li", { class: `${step.reached_at ? "done" : ""}${step.current ? " current" : ""}`, "data-stage": step.stage },
      h("span", { class: "name" }, t(`stage.${step.stage}`)),
      h("span", { class: "when" }, step.reached_at ? time(step.reached_at, true) : ""))));
}

export function mount(root, { me, args }) {
  const toolbar = h("div", { class: "toolbar queue-toolbar" });
  const tabs = h("div", { class: "queue-tabs", role: "group", "aria-label": t("queue.tabs") });
  const list = h("section", { class: "queue-list", "data-testid": "queue", "aria-label": t("nav.queue") });
  const detail = h("section", { class: "claim-detail", "data-testid": "claim-view" });
  root.append(toolbar, h("div", { class: "queue-layout" }, h("div", { class: "queue-side" }, tabs, list), detail));
  let entries = [];
  let counts = { workable: 0, waiting_on_customer: 0 };
  let total = 0;
  let tab = "workable";
  let page = 1;
  let search = "";
  let claimId = null;
  let claim = null;
  let payments = [];
  let names = {};
  let greenOnly = false;
  let advanceKey = uuid();
  const fields = keptFields();
  const claimChanged = changeDetector();
  const searchBox = h("input", { type: "search", id: "queue-search", "data-testid": "queue-search", maxlength: "100",
    placeholder: t("queue.searchHint"), autocomplete: "off" });

  async function learnNames(ids) {
    const missing = [...new Set(ids.filter((id) => id && !(id in names)))];
    if (!missing.length) return;
    const found = await get(`/v1/console/users?ids=${missing.join(",")}`);
    names = { ...names, ...found.users };
  }

  const nameOf = (id) => (id === me.id ? me.name : names[id] || t("queue.someone"));

  const reloadQueue = debounce(async () => {
    const query = new URLSearchParams({ tab, page: String(page), limit: String(QUEUE_PAGE) });
    if (greenOnly) query.set("fast_track", "true");
    if (search) query.set("q", search);
    try {
      const data = await get(`/v1/queue?${query}`);
      ({ counts, total } = data);
      entries = data.queue;
      if (!entries.length && page > 1 && total) {
        page = Math.max(1, Math.ceil(total / QUEUE_PAGE));
        reloadQueue();
        return;
      }
      await learnNames(entries.map((e) => e.lease?.holder_id));
      renderQueue();
    } catch (error) {
      refusalToast(error);
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
      refusalToast(error);
    }
  }, 150);

  function nothingToTake(why) {
    if (!why || !why.open) return t("queue.nothingOpen");
    const parts = [];
    if (why.waiting_on_customer) parts.push(t("queue.nothingWaiting", { n: why.waiting_on_customer }));
    if (why.leased) parts.push(t("queue.nothingLeased", { n: why.leased }));
    return t("queue.nothingToTakeWhy", { why: parts.join(lang() === "zh-CN" ? "；" : "; ") });
  }

  function renderToolbar() {
    const takeNext = h("button", { class: "primary big", "data-testid": "take-next" }, t("queue.takeNext"));
    takeNext.addEventListener("click", async () => {
      const result = await attempt(takeNext, () => post("/v1/queue/next", { fast_track_only: greenOnly }));
      if (result === undefined) return;
      if (!result.claim) {
        toast(nothingToTake(result.nothing_to_take));
        return;
      }
      location.hash = `#/queue/claim/${result.claim.id}`;
      reloadQueue();
    });
    const filter = h("input", { type: "checkbox", "data-testid": "green-only" });
    filter.checked = greenOnly;
    filter.addEventListener("change", () => { greenOnly = filter.checked; page = 1; reloadQueue(); });
    const form = h("form", { class: "queue-search", role: "search", "data-testid": "queue-search-form" },
      h("label", { for: "queue-search", class: "visually-hidden" }, t("queue.search")), searchBox,
      h("button", { type: "submit" }, t("queue.search")),
      search ? h("button", { type: "button", class: "quiet", "data-testid": "queue-search-clear", onclick: () => {
        searchBox.value = "";
        search = "";
        page = 1;
        reloadQueue();
      } }, t("queue.clearSearch")) : null);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      search = searchBox.value.trim();
      page = 1;
      reloadQueue();
    });
    const breached = entries.filter((e) => e.sla.breached).length;
    replace(toolbar, takeNext, form, h("label", { class: "check" }, filter, t("queue.greenOnly")),
      breached ? h("span", { class: "stat bad" }, t("queue.breachedOnPage", { n: breached })) : null);
    replace(tabs, TABS.map((name) => h("button", {
      type: "button", class: `tab${name === tab ? " active" : ""}`, "aria-pressed": String(name === tab),
      "data-testid": `tab-${name}`, onclick: () => { tab = name; page = 1; reloadQueue(); },
    }, t(`queue.tab.${name}`), " ", h("span", { class: "badge" }, counts[name] ?? 0))));
  }

  function reminderCell(entry) {
    const last = entry.last_reminded_at;
    const remind = h("button", { class: "small", "data-testid": "remind", onclick: async (event) => {
      event.stopPropagation();
      const done = await attempt(event.currentTarget, () => post(`/v1/claims/${entry.claim_id}/remind`, {}));
      if (done) {
        toast(t("queue.reminded", { n: entry.claim_id }));
        reloadQueue();
        if (entry.claim_id === claimId) reloadClaim();
      }
    } }, t("queue.remind"));
    return h("div", { class: "remind" }, remind,
      h("div", { class: "muted small", "data-testid": "last-reminded" },
        last ? t("queue.lastReminded", { t: time(last) }) : t("queue.neverReminded")));
  }

  function pager() {
    const pages = Math.max(1, Math.ceil(total / QUEUE_PAGE));
    const first = total ? (page - 1) * QUEUE_PAGE + 1 : 0;
    const last = Math.min(total, page * QUEUE_PAGE);
    const go = (to) => () => { page = to; reloadQueue(); list.scrollTop = 0; };
    return h("nav", { class: "pager", "aria-label": t("queue.pages"), "data-testid": "pager" },
      h("button", { type: "button", disabled: page <= 1, onclick: go(page - 1), "data-testid": "page-prev" }, t("queue.prev")),
      h("span", {}, t("queue.showing", { a: first, b: last, n: total, p: page, q: pages })),
      h("button", { type: "button", disabled: page >= pages, onclick: go(page + 1), "data-testid": "page-next" }, t("queue.next")));
  }

  function renderQueue() {
    renderToolbar();
    if (!entries.length) {
      const empty = search ? t("queue.noMatch") : t(`queue.empty.${tab}`);
      return replace(list, h("p", { class: "muted big-empty", "data-testid": "queue-empty" }, empty));
    }
    const waitingTab = tab === "waiting_on_customer";
    const columns = waitingTab ? ["claim", "customer", "missing", "remind"] : ["claim", "customer", "stage", "why", "sla", "lease"];
    return replace(list, h("table", { class: "grid queue compact" },
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, t(`queue.col.${c}`))))),
      h("tbody", {}, entries.map((entry) => h("tr", {
        class: `${entry.claim_id === claimId ? "selected" : ""}${entry.sla.breached ? " late" : ""}`,
        "data-testid": "queue-row", "data-claim-id": entry.claim_id,
        onclick: () => { location.hash = `#/queue/claim/${entry.claim_id}`; },
      },
      h("td", {}, h("a", { href: `#/queue/claim/${entry.claim_id}`, class: "claim-link" }, t("claim.title", { n: entry.claim_id })),
        entry.asset?.address ? h("div", { class: "muted small", "data-outside": "" }, entry.asset.address)
          : h("div", { class: "muted small" }, t(`asset.${entry.asset?.kind || "other"}`))),
      h("td", {}, h("span", { "data-outside": "" }, entry.customer_name || t("queue.noName")),
        h("div", { class: "muted small phone" }, entry.customer_phone || "")),
      waitingTab ? [
        h("td", { "data-testid": "missing" }, documentList(entry.missing_documents)),
        h("td", {}, reminderCell(entry)),
      ] : [
        h("td", {}, t(`stage.${entry.stage}`)),
        h("td", { class: "reasons" }, (entry.why_first || []).map(whyChip)),
        h("td", { class: entry.sla.breached ? "bad" : "" }, slaText(entry.sla)),
        h("td", {}, entry.lease ? t("queue.leaseUntil", { u: nameOf(entry.lease.holder_id), t: time(entry.lease.expires_at) }) : ""),
      ])))), pager());
  }

  function leaseLine() {
    const open = STAGES.indexOf(claim.stage) >= 0 && claim.stage !== ClaimStage.CLOSED_PAID;
    const waitingOnCustomer = claim.stage === ClaimStage.ASSESSED && claim.documents.missing.length > 0;
    if (!claim.lease && open && !waitingOnCustomer) {
      const take = h("button", { class: "primary small", "data-testid": "take-this", onclick: async (event) => {
        if (await attempt(event.currentTarget, () => post(`/v1/claims/${claim.id}/lease`, {}))) {
          toast(t("queue.taken", { n: claim.id }));
          reloadClaim();
          reloadQueue();
        }
      } }, t("queue.takeThis"));
      return h("div", { class: "lease", "data-testid": "lease" }, t("queue.free"), " ", take);
    }
    if (!claim.lease) return null;
    const mine = claim.lease.holder_id === me.id;
    const text = mine ? t("claim.leasedToYou", { t: time(claim.lease.expires_at) })
      : t("claim.leasedTo", { u: nameOf(claim.lease.holder_id), t: time(claim.lease.expires_at) });
    const release = mine || ["supervisor", "manager"].includes(me.role)
      ? h("button", { class: "small", "data-testid": "release", onclick: async (event) => {
        if (await attempt(event.currentTarget, () => post(`/v1/claims/${claim.id}/release`, {}))) {
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
    const estimate = next === ClaimStage.ASSESSED
      ? fields.get("estimate", () => h("input", { type: "number", min: "0", step: "0.01", placeholder: t("claim.estimate"),
        "data-testid": "estimate", value: claim.estimate ?? "" })) : null;
    const move = h("button", { class: "primary", "data-testid": "advance-stage" }, t("claim.moveTo", { s: t(`stage.${next}`) }));
    move.addEventListener("click", async () => {
      const body = { to: next, note: note.value || undefined };
      if (estimate) body.estimate = estimate.value;
      if (await attempt(move, () => post(`/v1/claims/${claim.id}/transition`, body), { missing: claim.documents.missing })) {
        fields.forget("note", "estimate", "rejectNote");
        toast(t("claim.moved", { n: claim.id, s: t(`stage.${next}`) }));
        reloadClaim();
        reloadQueue();
      }
    });
    const rejectNote = fields.get("rejectNote", () => h("input", { type: "text", placeholder: t("claim.rejectNote"),
      "data-testid": "reject-note" }));
    const reject = confirmButton(t("claim.reject"), { class: "danger", "data-testid": "reject" }, async () => {
      if (!rejectNote.value.trim()) {
        toast(t("approvals.reasonRequired"), "error");
        rejectNote.focus();
        return;
      }
      try {
        await post(`/v1/claims/${claim.id}/transition`, { to: ClaimStage.REJECTED, note: rejectNote.value });
      } catch (error) {
        refusalToast(error);
        return;
      }
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

  // What a refused advance would have made, from what the page shows: the counted payments and the cap.
  function advanceRefusal(amount) {
    const counted = payments.filter((p) => COUNTED_PAYMENT_STATES.includes(p.state));
    const sum = (list) => list.reduce((total, p) => total + Number(p.amount), 0);
    const estimate = Number(claim.estimate);
    return { total: sum(counted.filter((p) => p.kind === PaymentKind.ADVANCE)) + amount, all: sum(counted) + amount,
      cap: Math.floor(estimate * me.advance_ratio * 100) / 100, ratio: me.advance_ratio, estimate,
      missing: claim.documents.missing };
  }

  function detailReminder() {
    const last = [...claim.history].reverse().find((e) => e.action === "customer_reminded");
    const remind = h("button", { class: "small", "data-testid": "remind-detail", onclick: async (event) => {
      if (await attempt(event.currentTarget, () => post(`/v1/claims/${claim.id}/remind`, {}))) {
        toast(t("queue.reminded", { n: claim.id }));
        reloadClaim();
        reloadQueue();
      }
    } }, t("queue.remind"));
    return h("div", { class: "row remind-row" }, h("span", {}, t("queue.stillMissing", { d: documentList(claim.documents.missing) })),
      remind, h("span", { class: "muted small" }, last ? t("queue.lastReminded", { t: time(last.at) }) : t("queue.neverReminded")));
  }

  function paymentsPanel() {
    const rows = payments.length ? h("table", { class: "grid" }, h("tbody", {}, payments.map((p) =>
      h("tr", { "data-testid": "payment", "data-state": p.state },
        h("td", {}, `#${p.id}`), h("td", {}, t(`kind.${p.kind}`)), h("td", { class: "num" }, cny(p.amount)),
        h("td", {}, h("span", { class: `chip pay-${p.state}` }, t(`pay.${p.state}`))),
        h("td", { class: "muted" }, p.state === PaymentState.PENDING_APPROVAL ? t("claim.needs", { r: t(`role.${p.required_role}`) })
          : [h("span", { "data-outside": "" }, nameOf(p.requested_by)), ` · ${time(p.created_at)}`])))))
      : h("p", { class: "muted" }, t("claim.noPayments"));
    const open = STAGES.indexOf(claim.stage) >= 0 && claim.stage !== ClaimStage.CLOSED_PAID;
    if (!open) return [rows];
    if (!claim.estimate) return [rows, h("p", { class: "muted" }, t("claim.noEstimate"))];
    const ratio = me.advance_ratio;
    const amount = fields.get("amount", () => h("input", { type: "number", min: "0.01", step: "0.01",
      placeholder: t("claim.amount"), "data-testid": "advance-amount" }));
    const reason = fields.get("reason", () => h("input", { type: "text", placeholder: t("claim.reason"),
      "data-testid": "advance-reason" }));
    const request = h("button", { class: "primary", "data-testid": "request-advance" }, t("claim.requestAdvance"));
    request.addEventListener("click", async () => {
      const body = { amount: amount.value, kind: PaymentKind.ADVANCE, reason: reason.value || undefined };
      // The same key for every click of this form: a double click or a retry makes one payment.
      const payment = await attempt(request, () => post(`/v1/claims/${claim.id}/payments`, body, { "Idempotency-Key": advanceKey }),
        () => advanceRefusal(Number(amount.value)));
      if (payment) {
        advanceKey = uuid();
        fields.forget("amount", "reason");
        toast(t("claim.requested", { n: payment.id, s: t(`pay.${payment.state}`) }));
        reloadClaim();
      }
    });
    return [rows, h("p", { class: "muted small" }, t("claim.cap", { c: cny(Math.floor(Number(claim.estimate) * ratio * 100) / 100), r: `${Math.round(ratio * 100)}%`,
      e: cny(claim.estimate) })),
      h("div", { class: "row" }, amount, reason, request)];
  }

  function facts() {
    const flags = FLAGS.filter((f) => claim.flags[f]).map((f) => t(`flag.${f}`));
    if (claim.flags.flood_depth_level) flags.push(t("flag.flood_depth_level", { n: claim.flags.flood_depth_level }));
    const row = (label, value) => [h("dt", {}, label), h("dd", {}, value || "–")];
    return h("dl", { class: "facts" },
      row(t("claim.customer"), [h("span", { "data-outside": "" }, claim.customer_name || t("queue.noName")),
        claim.customer_phone ? ` · ${claim.customer_phone}` : ""]),
      row(t("claim.lossAt"), time(claim.loss_at, true)),
      row(t("claim.location"), `${claim.location.lat.toFixed(4)}, ${claim.location.lon.toFixed(4)}`),
      row(t("claim.description"), claim.description ? h("span", { "data-outside": "" }, claim.description) : null),
      row(t("claim.flags"), flags.join(" · ")),
      row(t("claim.estimate"), claim.estimate ? cny(claim.estimate) : null),
      row(t("queue.col.sla"), slaText(claim.sla)),
      row(t("claim.rescue"), claim.rescue ? `${t(`state.${claim.rescue.state}`)}${claim.rescue.provider ? ` · ${claim.rescue.provider}` : ""}` : null));
  }

  function renderClaim() {
    detail.hidden = !claimId;
    root.querySelector(".queue-layout").classList.toggle("with-claim", Boolean(claimId));
    if (!claimId || !claim) return replace(detail, claimId ? h("p", { class: "muted" }, t("common.loading")) : null);
    return replace(detail,
      h("header", {}, h("h2", {}, t("claim.title", { n: claim.id })),
        h("span", { class: `chip ${claim.fast_track ? "green" : ""}` }, claim.fast_track ? t("why.green_channel") : t("claim.ordinary")),
        h("span", { class: "chip stage", "data-testid": "claim-stage" }, t(`stage.${claim.stage}`))),
      leaseLine(),
      (claim.why_first || []).length ? h("div", { class: "reasons" }, claim.why_first.map(whyChip)) : null,
      claim.documents.missing.length && claim.stage !== ClaimStage.CLOSED_PAID ? detailReminder() : null,
      stepper(claim), stageActions(),
      h("div", { class: "two" },
        h("div", {}, h("h3", {}, t("claim.facts")), facts()),
        h("div", {}, h("h3", {}, t("claim.documents")), documentsChecklist())),
      h("h3", {}, t("claim.payments")), paymentsPanel(),
      h("h3", {}, t("claim.history")),
      h("ol", { class: "history", "data-testid": "history" }, [...claim.history].reverse().map((e) => h("li", {},
        h("span", { class: "muted" }, time(e.at, true)), " ", h("b", {}, actionName(e.action)),
        e.to && e.from !== e.to ? ` ${e.from ? `${t(`stage.${e.from}`)} → ` : ""}${t(`stage.${e.to}`)}` : "",
        e.actor_id ? ` · ${nameOf(e.actor_id)}` : "",
        e.note && e.action !== "leased" ? h("span", { class: "muted", "data-outside": "" }, ` · ${e.note}`) : ""))));
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
