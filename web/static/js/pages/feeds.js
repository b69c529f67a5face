// Feed health for operations: each feed's state, its last success and failure, its error in words,
// and for QWeather v1 feeds the points it asks with each one's last answer.
import { get } from "../api.js";
import { t } from "../i18n.js";
import { ago, debounce, duration, h, number, replace, showError } from "../ui.js";
import { zonedTime } from "../zone.js";

const REFRESH_MS = 30_000; // feeds have no live topic; their health moves at the pace of their polls
const POINTS_SHOWN = 20;
const STATUS_ICONS = { ok: "✓", failing: "✕", silent: "⚠", pending: "…", disabled: "⏸" };
const POINT_ICONS = { ok: "✓", unchanged: "✓", failed: "✕", waiting: "…" };

// A translated word for a value from the server, or the fallback's words: never the raw value itself.
function words(prefix, value, fallback = "other") {
  const key = `${prefix}.${value}`;
  const text = t(key);
  return text === key ? t(`${prefix}.${fallback}`) : text;
}

// Text that came from outside (feed names, place names, provider errors): marked so checks of the
// console's own wording can tell it apart.
function outside(tag, attrs, text) {
  return h(tag, { ...attrs, "data-outside": "" }, text);
}

function statusChip(status) {
  return h("span", { class: `chip feed-status status-${status}`, "data-testid": "feed-status" },
    h("span", { "aria-hidden": "true" }, STATUS_ICONS[status] || "•"), " ", words("feeds.status", status, "pending"));
}

function pointState(point) {
  if (!point.last_polled_at) return "waiting";
  if (point.last_error) return "failed";
  return point.last_status === 304 ? "unchanged" : "ok";
}

function coordinates(point) {
  const lat = `${Math.abs(point.lat).toFixed(2)}° ${point.lat >= 0 ? "N" : "S"}`;
  const lon = `${Math.abs(point.lon).toFixed(2)}° ${point.lon >= 0 ? "E" : "W"}`;
  return `${lat} ${lon}`;
}

function when(iso) {
  if (!iso) return h("span", { class: "muted" }, t("feeds.never"));
  return h("span", {}, h("time", { datetime: iso }, zonedTime(iso)), h("span", { class: "muted" }, ` (${ago(iso)})`));
}

function errorInWords(kind, text, testid) {
  if (!text) return h("span", { class: "muted" }, t("feeds.noError"));
  return h("div", { class: "feed-error", "data-testid": testid },
    h("span", { class: "error-words" }, words("feeds.error", kind)),
    h("details", { class: "error-detail" }, h("summary", {}, t("feeds.detail")), outside("code", {}, text)));
}

export function mount(root) {
  const section = h("section", { class: "ops feeds", "data-testid": "feeds" });
  root.append(section);
  const expanded = new Set(); // feeds whose whole point list is open, kept across refreshes
  let feeds = null;
  let loadedAt = null;
  let alive = true;

  async function reload() {
    try {
      feeds = (await get("/v1/feeds")).feeds;
      loadedAt = new Date().toISOString();
      if (alive) render();
    } catch (error) {
      if (alive) showError(error);
    }
  }

  function fact(label, value, testid) {
    return [h("dt", {}, label), h("dd", testid ? { "data-testid": testid } : {}, value)];
  }

  function pointsTable(feed) {
    const points = feed.health.points || [];
    const open = expanded.has(feed.id);
    const shown = open ? points : points.slice(0, POINTS_SHOWN);
    const label = (key) => t(`feeds.col.${key}`);
    const rows = shown.map((point) => {
      const state = pointState(point);
      return h("tr", { class: `point-${state}`, "data-testid": "point" },
        h("td", { "data-label": label("place") },
          point.name ? outside("span", { class: "place" }, point.name) : h("span", { class: "place" }, t("feeds.noPlace")),
          h("span", { class: "muted small coords" }, coordinates(point))),
        h("td", { "data-label": label("answer"), class: "when" }, point.last_polled_at ? when(point.last_polled_at) : h("span", { class: "muted" }, t("feeds.notAsked"))),
        h("td", { "data-label": label("status") },
          h("span", { class: `chip point-state state-${state}`, "data-testid": "point-state" },
            h("span", { "aria-hidden": "true" }, POINT_ICONS[state]), " ", t(`feeds.point.${state}`))),
        h("td", { "data-label": label("alerts"), class: "num" },
          point.alerts.length ? t("feeds.alertsCount", { n: number(point.alerts.length) }) : h("span", { class: "muted" }, t("feeds.noAlerts"))),
        h("td", { "data-label": label("error") }, errorInWords(point.last_error_kind, point.last_error, "point-error")));
    });
    const toggle = points.length > POINTS_SHOWN
      ? h("button", { class: "small", type: "button", "aria-expanded": String(open), "data-testid": "points-toggle",
        onclick: () => { if (open) expanded.delete(feed.id); else expanded.add(feed.id); render(); } },
      open ? t("feeds.fewerPoints") : t("feeds.allPoints", { n: number(points.length) }))
      : null;
    return h("div", { class: "points" },
      h("h3", {}, t("feeds.points", { n: number(points.length) })),
      points.length
        ? h("table", { class: "grid ops-table", "data-testid": "points" },
          h("thead", {}, h("tr", {}, ["place", "answer", "status", "alerts", "error"].map((key) => h("th", { scope: "col" }, label(key))))),
          h("tbody", {}, rows))
        : h("p", { class: "muted" }, t("feeds.noPoints")),
      toggle);
  }

  function card(feed) {
    const health = feed.health;
    const kind = words("feeds.kind", feed.kind);
    const outsideAssets = health.assets_outside_gazetteer || 0;
    const withoutLink = health.entries_without_cap_link || 0;
    const failing = health.consecutive_failures > 0;
    return h("article", { class: `card feed feed-${health.status}`, "data-testid": "feed" },
      h("header", { class: "feed-head" },
        h("h2", {}, feed.name ? outside("span", {}, feed.name) : kind),
        statusChip(health.status)),
      outside("p", { class: "muted small feed-url" }, feed.url),
      outsideAssets > 0
        ? h("p", { class: "banner warn", role: "alert", "data-testid": "outside-gazetteer" },
          h("span", { "aria-hidden": "true" }, "⚠ "), t("feeds.outsideGazetteer", { n: number(outsideAssets) }))
        : null,
      withoutLink > 0
        ? h("p", { class: "banner warn", role: "alert", "data-testid": "missing-links" },
          h("span", { "aria-hidden": "true" }, "⚠ "), t("feeds.missingLinks", { n: number(withoutLink) }))
        : null,
      h("dl", { class: "facts feed-facts" },
        fact(t("feeds.kindLabel"), kind, "feed-kind"),
        fact(t("feeds.polling"), feed.enabled ? t("feeds.every", { n: duration(feed.every_s) }) : t("feeds.off"), "feed-enabled"),
        fact(t("feeds.lastSuccess"), when(health.last_success_at), "last-success"),
        fact(t("feeds.lastFailure"), when(health.last_error_at), "last-failure"),
        fact(failing ? t("feeds.error") : t("feeds.lastError"), errorInWords(health.last_error_kind, health.last_error, "feed-error")),
        fact(t("feeds.failures"), h("span", { class: failing ? "bad" : "" }, number(health.consecutive_failures || 0)), "failures"),
        fact(t("feeds.nextPoll"), feed.enabled && health.next_poll_at ? h("time", { datetime: health.next_poll_at }, zonedTime(health.next_poll_at)) : "–", "next-poll"),
        fact(t("feeds.alertsSeen"), number(health.alerts_seen || 0)),
        ["cap-atom", "cap-rss"].includes(feed.kind) ? fact(t("feeds.withoutLink"), number(withoutLink), "without-link") : null,
        health.points ? fact(t("feeds.outsideLabel"), h("span", { class: outsideAssets ? "bad" : "" }, number(outsideAssets))) : null),
      health.points ? pointsTable(feed) : null);
  }

  function render() {
    const attention = feeds.filter((f) => ["failing", "silent"].includes(f.health.status)).length;
    replace(section,
      h("header", { class: "ops-head" },
        h("h1", {}, t("nav.feeds")),
        h("p", { class: "muted" }, t("feeds.summary", { n: number(feeds.length), a: number(attention) }), " · ",
          t("feeds.updated", { t: zonedTime(loadedAt) }))),
      feeds.length ? feeds.map(card) : h("p", { class: "muted big-empty" }, t("feeds.empty")));
  }

  replace(section, h("p", { class: "muted" }, t("common.loading")));
  reload();
  const soon = debounce(reload, 1000); // a storm's warnings arrive in bursts
  const timer = setInterval(reload, REFRESH_MS);
  return {
    changed(topic) {
      if (["warnings", "reconnect"].includes(topic)) soon();
    },
    unmount() {
      alive = false;
      clearInterval(timer);
    },
  };
}
