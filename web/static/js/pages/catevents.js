// CAT events for supervisors, managers and admins: the proposals Haven made and the open events, each
// with its area on a small map and its reach; a proposal is confirmed, dismissed with a reason, or merged
// into the open event of the same storm.
import { get, post } from "../api.js";
import { t } from "../i18n.js";
import { CatEventStatus } from "../states.js";
import { h, number, replace, toast } from "../ui.js";
import { zonedTime } from "../zone.js";

const LAND = "#f4f1ea";
const AREA_STYLE = { color: "#6a1b9a", weight: 2, fillColor: "#6a1b9a", fillOpacity: 0.18 };
const PROPOSED_STYLE = { ...AREA_STYLE, color: "#8a3c00", fillColor: "#e65100", dashArray: "6 4" };

// A refusal from the server in the page's language: known codes in words, the rest in general words.
function refusal(error) {
  const key = `cat.error.${error.code}`;
  const text = t(key);
  if (text !== key) return text;
  if (error.status === 403) return t("cat.error.forbidden");
  if (error.status === 400 || error.status === 422) {
    const field = t(`cat.field.${error.field}`);
    return t("cat.error.field", { field: field === `cat.field.${error.field}` ? t("cat.field.other") : field });
  }
  return t("cat.error.other");
}

// Text that came from outside (hazard words from an agency's warning): marked as such.
function outside(tag, text) {
  return h(tag, { "data-outside": "" }, text);
}

function windowText(event) {
  const start = zonedTime(event.window_start, true);
  return event.window_end ? t("cat.window", { start, end: zonedTime(event.window_end, true) })
    : t("cat.windowOpenEnded", { start });
}

// Who decides a proposal (the API's DECLARERS): an admin reads the page but cannot confirm or dismiss.
const DECIDERS = ["supervisor", "manager"];

export function mount(root, { me } = {}) {
  const decides = !me || DECIDERS.includes(me.role);
  const section = h("section", { class: "ops catevents", "data-testid": "catevents" });
  root.append(section);
  let alive = true;
  let basemap = null;
  const maps = [];

  get("/v1/console/basemap").then((answer) => {
    basemap = { type: "FeatureCollection", features: answer.features.filter((f) => f.properties.level === "province") };
    if (alive) drawBasemaps();
  }).catch(() => null); // the areas still show on the plain sea colour

  function drawBasemaps() {
    for (const entry of maps) {
      if (entry.base || !basemap) continue;
      entry.base = L.geoJSON(basemap, { interactive: false, style: { stroke: true, color: "#b8b2a5", weight: 1,
        fillColor: LAND, fillOpacity: 1 } }).addTo(entry.map);
      entry.base.bringToBack();
    }
  }

  function clearMaps() {
    for (const entry of maps) entry.map.remove();
    maps.length = 0;
  }

  async function reload() {
    try {
      const events = (await get("/v1/cat-events")).cat_events;
      if (alive) render(events);
    } catch (error) {
      if (alive) toast(refusal(error), "error");
    }
  }

  async function act(button, path, body, done) {
    button.disabled = true;
    try {
      await post(path, body);
      toast(done);
      await reload();
    } catch (error) {
      toast(refusal(error), "error");
      button.disabled = false;
    }
  }

  function areaMap(event) {
    const element = h("div", { class: "cat-map", role: "img", "data-testid": "cat-map",
      "aria-label": t("cat.mapLabel", { code: event.code }) });
    // Leaflet needs the element in the page to measure it: drawn once the card is placed.
    queueMicrotask(() => {
      if (!alive || !element.isConnected) return;
      const map = L.map(element, { attributionControl: false, zoomControl: false, dragging: false,
        scrollWheelZoom: false, doubleClickZoom: false, boxZoom: false, keyboard: false, touchZoom: false,
        fadeAnimation: false, zoomAnimation: false });
      const area = L.geoJSON(event.area, { style: event.status === CatEventStatus.PROPOSED ? PROPOSED_STYLE : AREA_STYLE });
      area.addTo(map);
      // A tooltip gets an element, never a string: Leaflet would parse a string as HTML.
      area.bindTooltip(h("span", {}, event.code), { sticky: true });
      map.fitBounds(area.getBounds(), { padding: [8, 8] });
      map.getContainer().removeAttribute("tabindex"); // a picture, not a control
      maps.push({ map, base: null });
      drawBasemaps();
    });
    return element;
  }

  function fact(label, value, testid) {
    return [h("dt", {}, label), h("dd", testid ? { "data-testid": testid } : {}, value)];
  }

  function reach(event) {
    const parts = [];
    if (event.proposed_assets !== null && event.proposed_assets !== undefined) {
      parts.push(t("cat.assets", { n: number(event.proposed_assets) }));
    }
    if (event.status === CatEventStatus.OPEN) parts.push(t("cat.claims", { n: number(event.claims_tagged || 0) }));
    return parts.length ? parts.join(t("cat.and")) : t("cat.noReach");
  }

  function confirmForm(event) {
    const id = `cat-code-${event.id}`;
    const code = h("input", { id, value: event.code, autocomplete: "off", spellcheck: "false",
      pattern: "CAT-[0-9]{4}-[0-9]{4}-[A-Z0-9]+(-[A-Z0-9]+)*", "data-testid": "confirm-code" });
    const button = h("button", { type: "submit", class: "primary", "data-testid": "confirm" }, t("cat.confirm"));
    return h("form", { class: "cat-action", onsubmit: (e) => {
      e.preventDefault();
      const body = code.value.trim() && code.value.trim() !== event.code ? { code: code.value.trim() } : {};
      act(button, `/v1/cat-events/${event.id}/confirm`, body, t("cat.confirmed", { code: code.value.trim() || event.code }));
    } }, h("label", { for: id }, t("cat.confirmAs")), code, button);
  }

  function dismissForm(event) {
    const id = `cat-reason-${event.id}`;
    const reason = h("input", { id, required: true, maxlength: "500", autocomplete: "off", "data-testid": "dismiss-reason" });
    const button = h("button", { type: "submit", class: "danger", "data-testid": "dismiss" }, t("cat.dismiss"));
    return h("form", { class: "cat-action", onsubmit: (e) => {
      e.preventDefault();
      if (!reason.value.trim()) {
        reason.focus();
        toast(t("cat.reasonNeeded"), "error");
        return;
      }
      act(button, `/v1/cat-events/${event.id}/dismiss`, { reason: reason.value.trim() }, t("cat.dismissed", { code: event.code }));
    } }, h("label", { for: id }, t("cat.reason")), reason, button);
  }

  function mergeForm(event, openEvents) {
    if (!openEvents.length) return h("p", { class: "muted small" }, t("cat.noOpenToMerge"));
    const id = `cat-into-${event.id}`;
    const into = h("select", { id, "data-testid": "merge-into" },
      openEvents.map((open) => h("option", { value: String(open.id) }, open.code)));
    const button = h("button", { type: "submit", "data-testid": "merge" }, t("cat.merge"));
    return h("form", { class: "cat-action", onsubmit: (e) => {
      e.preventDefault();
      const target = openEvents.find((open) => String(open.id) === into.value);
      act(button, `/v1/cat-events/${event.id}/merge`, { into_id: Number(into.value) },
        t("cat.merged", { code: event.code, into: target ? target.code : "" }));
    } }, h("label", { for: id }, t("cat.mergeInto")), into, button);
  }

  function card(event, openEvents) {
    const proposed = event.status === CatEventStatus.PROPOSED;
    return h("article", { class: `card cat-event cat-${event.status}`, "data-testid": "cat-event",
      "data-status": event.status },
      h("header", { class: "cat-head" },
        h("h3", {}, event.code),
        h("span", { class: `chip cat-status status-${event.status}`, "data-testid": "cat-status" }, t(`cat.status.${event.status}`))),
      h("div", { class: "cat-body" },
        areaMap(event),
        h("dl", { class: "facts cat-facts" },
          fact(t("cat.hazard"), outside("span", event.hazard)),
          fact(t("cat.windowLabel"), windowText(event), "cat-window"),
          fact(t("cat.reach"), reach(event), "cat-reach"),
          fact(t("cat.since"), zonedTime(proposed ? event.created_at : (event.confirmed_at || event.created_at), true)),
          fact(t("cat.chains"), number((event.source_chain_ids || []).length)))),
      proposed && decides
        ? h("div", { class: "cat-actions" }, confirmForm(event), mergeForm(event, openEvents), dismissForm(event))
        : null,
      proposed && !decides ? h("p", { class: "muted", "data-testid": "decided-by" }, t("cat.decidedBy")) : null);
  }

  function render(events) {
    clearMaps();
    const proposals = events.filter((e) => e.status === CatEventStatus.PROPOSED);
    const open = events.filter((e) => e.status === CatEventStatus.OPEN);
    replace(section,
      h("h2", {}, t("cat.title")),
      h("p", { class: "muted" }, t("cat.intro")),
      h("h3", { class: "cat-group" }, t("cat.proposals", { n: number(proposals.length) })),
      proposals.length ? h("div", { class: "cat-list", "data-testid": "cat-proposals" }, proposals.map((e) => card(e, open)))
        : h("p", { class: "muted", "data-testid": "no-proposals" }, t("cat.noProposals")),
      h("h3", { class: "cat-group" }, t("cat.open", { n: number(open.length) })),
      open.length ? h("div", { class: "cat-list", "data-testid": "cat-open" }, open.map((e) => card(e, open)))
        : h("p", { class: "muted" }, t("cat.noOpen")));
  }

  reload();
  return {
    changed(topic) {
      if (topic === "cat_events" || topic === "reconnect") reload();
    },
    unmount() {
      alive = false;
      clearMaps();
    },
  };
}
