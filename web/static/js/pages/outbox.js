// The outbox (admins only): every message the outbox channel kept instead of sending, newest first,
// filtered by channel and found by phone number, fifty at a time.
import { get } from "../api.js";
import { t } from "../i18n.js";
import { NOT_DELIVERED, NotificationState as State } from "../states.js";
import { debounce, h, number, replace, showError } from "../ui.js";
import { zonedTime } from "../zone.js";

const PAGE_SIZE = 50;
const STATE_ICONS = { [State.DELIVERED]: "✓", [State.SENT]: "✓", [State.FAILED]: "✕", [State.UNDELIVERED]: "✕",
  [State.EXPIRED]: "⌛", [State.CANCELLED]: "⊘" };
const BAD_STATES = new Set([...NOT_DELIVERED, State.CANCELLED]);

function words(prefix, value, fallback = "other") {
  const key = `${prefix}.${value}`;
  const text = t(key);
  return text === key ? t(`${prefix}.${fallback}`) : text;
}

// +8613812345678 -> +86 138 1234 5678: mainland mobiles read in the groups people say them in.
function readablePhone(phone) {
  const mobile = /^\+86(1\d{2})(\d{4})(\d{4})$/.exec(phone || "");
  return mobile ? `+86 ${mobile[1]} ${mobile[2]} ${mobile[3]}` : phone || "–";
}

function searchDigits(text) {
  const trimmed = text.trim();
  if (!trimmed) return "";
  const digits = trimmed.replace(/\D/g, "");
  return /^\+?[\d\s().-]+$/.test(trimmed) && digits.length >= 3 && digits.length <= 20 ? digits : null;
}

export function mount(root) {
  const section = h("section", { class: "ops outbox", "data-testid": "outbox" });
  root.append(section);
  const channel = h("select", { id: "outbox-channel", "data-testid": "outbox-channel" },
    h("option", { value: "" }, t("outbox.allChannels")),
    h("option", { value: "sms" }, t("outbox.channel.sms")),
    h("option", { value: "push" }, t("outbox.channel.push")));
  const phone = h("input", { type: "search", id: "outbox-phone", inputmode: "tel", autocomplete: "off",
    "data-testid": "outbox-phone", "aria-describedby": "outbox-phone-error" });
  const phoneError = h("p", { id: "outbox-phone-error", class: "field-error", role: "alert", "data-testid": "outbox-phone-error" });
  const form = h("form", { class: "ops-filters", role: "search", "data-testid": "outbox-filters" },
    h("label", { for: "outbox-channel" }, t("outbox.channelLabel")), channel,
    h("label", { for: "outbox-phone" }, t("outbox.phone")), phone,
    h("button", { type: "submit", class: "primary", "data-testid": "outbox-search" }, t("outbox.search")),
    h("button", { type: "button", class: "quiet", "data-testid": "outbox-clear",
      onclick: () => { phone.value = ""; channel.value = ""; firstPage(); } }, t("outbox.clear")));
  const status = h("p", { class: "muted", "aria-live": "polite", "data-testid": "outbox-status" }, t("common.loading"));
  const list = h("div", { class: "outbox-list" });
  const more = h("div", { class: "row" });
  replace(section,
    h("header", { class: "ops-head" }, h("h1", {}, t("nav.outbox")), h("p", { class: "muted" }, t("outbox.lead"))),
    form, phoneError, status, list, more);

  let messages = [];
  let nextBefore = null;
  let query = null; // the filters the list was loaded with; "more" keeps them
  let alive = true;

  function filters() {
    const digits = searchDigits(phone.value);
    if (digits === null) return null;
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (channel.value) params.set("channel", channel.value);
    if (digits) params.set("phone", digits);
    return params;
  }

  async function load(params, append) {
    try {
      const page = await get(`/v1/outbox?${params}`);
      if (!alive) return;
      messages = append ? messages.concat(page.messages) : page.messages;
      nextBefore = page.next_before_id;
      render();
    } catch (error) {
      if (!alive) return;
      if (error.field === "phone") phoneError.textContent = t("outbox.badPhone");
      else showError(error);
    }
  }

  function firstPage() {
    const params = filters();
    phoneError.textContent = params ? "" : t("outbox.badPhone");
    phone.setAttribute("aria-invalid", String(!params));
    if (!params) return;
    query = params;
    load(params, false);
  }

  function nextPage(button) {
    const params = new URLSearchParams(query);
    params.set("before_id", String(nextBefore));
    button.disabled = true;
    load(params, true);
  }

  function row(message) {
    const to = message.channel === "sms" ? message.recipient : message.customer_phone;
    const shownAt = message.sent_at || message.created_at;
    const label = (key) => t(`outbox.col.${key}`);
    return h("tr", { "data-testid": "outbox-message" },
      h("td", { "data-label": label("when"), class: "when" }, h("time", { datetime: shownAt }, zonedTime(shownAt))),
      h("td", { "data-label": label("channel"), class: "channel" }, words("outbox.channel", message.channel),
        h("span", { class: "muted small kind" }, words("outbox.kind", message.kind))),
      h("td", { "data-label": label("to") },
        h("span", { class: "phone", "data-outside": "", "data-testid": "outbox-phone-number" }, readablePhone(to)),
        message.customer_name ? h("span", { class: "muted small", "data-outside": "" }, message.customer_name) : null),
      h("td", { "data-label": label("text"), class: "message-text" },
        h("span", { "data-outside": "", "data-testid": "outbox-text" }, message.body)),
      h("td", { "data-label": label("state") },
        h("span", { class: `chip ${BAD_STATES.has(message.state) ? "state-bad" : "state-ok"}`, "data-testid": "outbox-state" },
          h("span", { "aria-hidden": "true" }, STATE_ICONS[message.state] || "•"), " ", words("outbox.state", message.state))));
  }

  function render() {
    const searching = query && (query.has("phone") || query.has("channel"));
    status.textContent = messages.length
      ? t(nextBefore ? "outbox.shownMore" : "outbox.shown", { n: number(messages.length) })
      : t(searching ? "outbox.noMatch" : "outbox.empty");
    const label = (key) => t(`outbox.col.${key}`);
    replace(list, messages.length
      ? h("table", { class: "grid ops-table", "data-testid": "outbox-table" },
        h("thead", {}, h("tr", {}, ["when", "channel", "to", "text", "state"].map((key) => h("th", { scope: "col" }, label(key))))),
        h("tbody", {}, messages.map(row)))
      : null);
    replace(more, nextBefore
      ? h("button", { type: "button", "data-testid": "outbox-more", onclick: (event) => nextPage(event.currentTarget) },
        t("outbox.more", { n: number(PAGE_SIZE) }))
      : null);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    firstPage();
  });
  channel.addEventListener("change", firstPage);
  firstPage();
  // New messages arrive in bursts; the first page follows them unless the reader has paged further.
  const refresh = debounce(() => { if (messages.length <= PAGE_SIZE && query) load(query, false); }, 1000);
  return {
    changed(topic) {
      if (["deliveries", "reconnect"].includes(topic)) refresh();
    },
    unmount() {
      alive = false;
    },
  };
}
