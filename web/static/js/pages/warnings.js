// Warnings (supervisors, managers, admins): each alert's reach in words, who it warned (searchable,
// phones masked unless the role may see them) and its chain's history, each message with its own headline.
import { get } from "../api.js";
import { lang, t } from "../i18n.js";
import { NOT_DELIVERED, NotificationState } from "../states.js";
import { debounce, h, number, replace, showError } from "../ui.js";
import { zonedTime } from "../zone.js";

const PAGE_SIZE = 50;
const BAD_STATES = new Set([...NOT_DELIVERED, NotificationState.CANCELLED]);
const CHANGES = { Alert: "issued", Update: "updated", Cancel: "all_clear" };

function words(prefix, value, fallback = "other") {
  const key = `${prefix}.${value}`;
  const text = t(key);
  return text === key ? t(`${prefix}.${fallback}`) : text;
}

// A CAP alert carries one info per language: the one in the console's language, else the first.
export function inLanguage(byLanguage) {
  const entries = Object.entries(byLanguage || {});
  const wanted = lang() === "zh-CN" ? "zh" : "en";
  const match = entries.find(([language]) => language.toLowerCase().startsWith(wanted));
  return (match || entries[0] || [])[1] || null;
}

function alertHeadline(alert) {
  const infos = alert.infos || [];
  const byLanguage = Object.fromEntries(infos.filter((i) => i.headline || i.event)
    .map((i) => [i.language || "", i.headline || i.event]));
  return inLanguage(byLanguage) || t("warnings.untitled", { n: alert.id });
}

// Why a message did not arrive, in words: the provider's error code where it gave one.
function failureWords(state, code) {
  if (code) {
    const known = t(`warnings.error.${code}`);
    if (known !== `warnings.error.${code}`) return known;
    return t("warnings.error.code", { c: code });
  }
  return words("warnings.failState", state);
}

function countsOf(report) {
  const totals = { warned: report.customers || 0, delivered: 0, failed: 0, pending: 0, cancelled: 0 };
  for (const states of Object.values(report.by_channel || {})) {
    for (const [state, count] of Object.entries(states)) {
      if (state === NotificationState.DELIVERED) totals.delivered += count;
      else if (NOT_DELIVERED.includes(state)) totals.failed += count;
      else if (state === NotificationState.CANCELLED) totals.cancelled += count;
      else totals.pending += count;
    }
  }
  return totals;
}

export function mount(root, { args } = {}) {
  const section = h("section", { class: "ops warnings", "data-testid": "warnings" });
  root.append(section);
  const list = h("ul", { class: "warning-list", "data-testid": "warning-list", "aria-label": t("warnings.listLabel") });
  const detail = h("div", { class: "warning-detail", "data-testid": "warning-detail", "aria-live": "polite" },
    h("p", { class: "muted" }, t("warnings.pick")));
  replace(section,
    h("header", { class: "ops-head" }, h("h1", {}, t("nav.warnings")), h("p", { class: "muted" }, t("warnings.lead"))),
    h("div", { class: "warnings-layout" }, h("nav", { class: "warnings-nav" }, list), detail));

  let alive = true;
  let chosen = args && /^\d+$/.test(args[0] || "") ? Number(args[0]) : null;
  let people = { search: "", offset: 0 };

  async function loadList() {
    try {
      const page = await get("/v1/alerts?limit=50");
      if (!alive) return;
      replace(list, page.alerts.length ? page.alerts.map((alert) => h("li", {},
        h("button", { type: "button", class: `warning-item${alert.id === chosen ? " chosen" : ""}`,
          "data-testid": "warning-item", "data-alert": String(alert.id), "aria-current": alert.id === chosen ? "true" : null,
          onclick: () => open(alert.id) },
        h("span", { class: `chip sev-${alert.max_severity || "Unknown"}` }, words("sev", alert.max_severity, "Unknown")), " ",
        h("span", { class: "headline", "data-outside": "" }, alertHeadline(alert)),
        h("br"), h("span", { class: "muted small" }, `${words("warnings.change", CHANGES[alert.msg_type])} · `,
          // When the message was sent, not when Haven stored it: a replayed or late chain arrives at once.
          h("time", { datetime: alert.sent || alert.received_at }, zonedTime(alert.sent || alert.received_at))))))
        : [h("li", { class: "muted" }, t("warnings.none"))]);
      if (chosen === null && page.alerts.length) open(page.alerts[0].id);
    } catch (error) {
      if (alive) showError(error);
    }
  }

  function open(alertId) {
    chosen = alertId;
    people = { search: "", offset: 0 };
    for (const item of list.querySelectorAll("[data-alert]")) {
      const on = Number(item.dataset.alert) === alertId;
      item.classList.toggle("chosen", on);
      if (on) item.setAttribute("aria-current", "true"); else item.removeAttribute("aria-current");
    }
    if (location.hash !== `#/warnings/${alertId}`) history.replaceState(null, "", `#/warnings/${alertId}`);
    loadDetail();
  }

  async function loadDetail() {
    const alertId = chosen;
    try {
      const [alert, reach, chain] = await Promise.all([get(`/v1/alerts/${alertId}`),
        get(`/v1/alerts/${alertId}/notifications`), get(`/v1/alerts/${alertId}/history`)]);
      if (!alive || alertId !== chosen) return;
      const whoList = h("div", { "data-testid": "warned" });
      replace(detail,
        h("h2", { "data-outside": "", "data-testid": "warning-headline" }, alertHeadline(alert)),
        reachCard(reach),
        h("section", { class: "card" }, h("h3", {}, t("warnings.who")), whoList),
        historyCard(chain));
      loadPeople(whoList, alertId);
    } catch (error) {
      if (alive) showError(error);
    }
  }

  function reachCard(reach) {
    const totals = countsOf(reach);
    const fact = (key, value, testid) => h("div", { class: "fact" },
      h("dt", {}, t(`warnings.${key}`)), h("dd", { "data-testid": testid }, number(value)));
    const replies = reach.replies && Object.values(reach.replies).some((n) => n)
      ? h("p", { "data-testid": "replies" }, t("warnings.replies", { d: number(reach.replies.damaged || 0),
        s: number(reach.replies.safe || 0), r: number(reach.replies.rescue || 0) }))
      : null;
    return h("section", { class: "card", "data-testid": "reach" }, h("h3", {}, t("warnings.reach")),
      h("dl", { class: "facts" }, fact("warned", totals.warned, "reach-warned"),
        fact("delivered", totals.delivered, "reach-delivered"), fact("failed", totals.failed, "reach-failed"),
        fact("pending", totals.pending, "reach-pending"), fact("cancelled", totals.cancelled, "reach-cancelled")),
      h("p", { class: "muted", "data-testid": "reach-held" }),
      h("ul", { class: "failure-reasons", "data-testid": "failure-reasons" }), replies);
  }

  function historyCard(chain) {
    return h("section", { class: "card", "data-testid": "chain-history" }, h("h3", {}, t("warnings.history")),
      h("ol", { class: "chain" }, chain.messages.map((message) => h("li", { "data-testid": "chain-message" },
        h("strong", { "data-testid": "chain-change" }, words("warnings.change", message.change)), " · ",
        h("time", { datetime: message.sent_at }, zonedTime(message.sent_at, true)), " · ",
        h("span", { "data-outside": "", "data-testid": "chain-headline" }, inLanguage(message.headlines) || "–")))));
  }

  async function loadPeople(box, alertId) {
    const input = h("input", { type: "search", id: "warned-search", autocomplete: "off", maxlength: "100",
      "data-testid": "warned-search", value: people.search });
    const status = h("p", { class: "muted", "data-testid": "warned-status" }, t("common.loading"));
    const table = h("div", { class: "table-scroll" });
    const pager = h("div", { class: "row" });
    replace(box, h("form", { class: "ops-filters", role: "search", onsubmit: (event) => {
      event.preventDefault();
      people = { search: input.value.trim(), offset: 0 };
      fetchPage();
    } }, h("label", { for: "warned-search" }, t("warnings.search")), input,
    h("button", { type: "submit", class: "primary", "data-testid": "warned-find" }, t("outbox.search"))),
    status, table, pager);

    async function fetchPage() {
      const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(people.offset) });
      if (people.search) params.set("q", people.search);
      try {
        const page = await get(`/v1/alerts/${alertId}/warned?${params}`);
        if (!alive || alertId !== chosen) return;
        showSummary(page);
        status.textContent = page.total
          ? t("warnings.shown", { a: number(page.offset + 1), b: number(page.offset + page.people.length), n: number(page.total) })
          : t(people.search ? "warnings.noMatch" : "warnings.nobody");
        const label = (key) => t(`warnings.col.${key}`);
        replace(table, page.people.length ? h("table", { class: "grid ops-table", "data-testid": "warned-table" },
          h("thead", {}, h("tr", {}, ["name", "phone", "channel", "state"].map((key) => h("th", { scope: "col" }, label(key))))),
          h("tbody", {}, page.people.map((person) => h("tr", { "data-testid": "warned-person" },
            h("td", { "data-label": label("name") }, h("span", { "data-outside": "", "data-testid": "warned-name" }, person.name || "–")),
            h("td", { "data-label": label("phone") }, h("span", { class: "phone", "data-outside": "", "data-testid": "warned-phone" }, person.phone || "–")),
            h("td", { "data-label": label("channel") }, words("outbox.channel", person.channel)),
            h("td", { "data-label": label("state") }, stateWords(person)))))) : null);
        replace(pager,
          page.offset > 0 ? h("button", { type: "button", "data-testid": "warned-previous",
            onclick: () => { people.offset = Math.max(0, people.offset - PAGE_SIZE); fetchPage(); } }, t("warnings.previous")) : null,
          page.offset + page.people.length < page.total ? h("button", { type: "button", "data-testid": "warned-next",
            onclick: () => { people.offset += PAGE_SIZE; fetchPage(); } }, t("warnings.next")) : null);
      } catch (error) {
        if (!alive) return;
        if (error.field === "q") status.textContent = t("warnings.badSearch");
        else showError(error);
      }
    }
    fetchPage();
  }

  function stateWords(person) {
    const bad = BAD_STATES.has(person.state);
    let text = words("warnings.state", person.state);
    if (person.held_until) text = t("warnings.heldUntil", { t: zonedTime(person.held_until, "auto") });
    else if (bad && person.state !== NotificationState.CANCELLED) text = `${text}: ${failureWords(person.state, person.error_code)}`;
    const reply = person.reply ? h("span", { class: "muted small" }, ` · ${words("warnings.reply", person.reply)}`) : null;
    return h("span", { class: `chip ${bad ? "state-bad" : "state-ok"}`, "data-testid": "warned-state" }, text, reply);
  }

  function showSummary(page) {
    const held = detail.querySelector("[data-testid=reach-held]");
    if (held) held.textContent = page.held && page.held.waiting
      ? t("warnings.held", { n: number(page.held.waiting), t: zonedTime(page.held.release_at, "auto") }) : "";
    const reasons = detail.querySelector("[data-testid=failure-reasons]");
    if (reasons) replace(reasons, (page.failures || []).map((failure) => h("li", { "data-testid": "failure-reason" },
      t("warnings.failedBecause", { n: number(failure.count), r: failureWords(failure.state, failure.error_code) }))));
  }

  loadList();
  if (chosen !== null) loadDetail();
  const refresh = debounce(() => { loadList(); if (chosen !== null) loadDetail(); }, 2000);
  return {
    navigate(rest) {
      const id = rest && /^\d+$/.test(rest[0] || "") ? Number(rest[0]) : null;
      if (id !== null && id !== chosen) open(id);
    },
    changed(topic) {
      if (["warnings", "deliveries", "reconnect"].includes(topic)) refresh();
    },
    unmount() {
      alive = false;
    },
  };
}
