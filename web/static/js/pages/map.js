// Operations map: warning areas by severity, affected assets as server-side clusters, CAT event areas,
// rescue jobs by state, providers with the age of their position. Offline: the base layer is the
// gazetteer's boundaries, no tile server.
import { api, get } from "../api.js";
import { lang, t } from "../i18n.js";
import { debounce, duration, h, number, replace, showError, syncClock, toast } from "../ui.js";
import { zonedTime } from "../zone.js";
import { ManualWarningState } from "../states.js";
import { AREA_STYLE, myWaitingBlock, previewBlock } from "./manual.js";

export const SEVERITY_COLOURS = {
  Extreme: "#b71c1c", Severe: "#e65100", Moderate: "#f9a825", Minor: "#1e88e5", Unknown: "#78909c",
};
const SEVERITY_RANK = { Unknown: 0, Minor: 1, Moderate: 2, Severe: 3, Extreme: 4 };
export const JOB_COLOURS = {
  created: "#d50000", offered: "#ff8f00", accepted: "#1565c0", en_route: "#5e35b1", on_scene: "#00897b",
  towing: "#00897b", completed: "#9e9e9e", cancelled: "#bdbdbd", gone_on_arrival: "#bdbdbd",
};
const BASE_STYLE = {
  province: { color: "#4e5d6c", weight: 1.6, fill: false },
  city: { color: "#8d9aa6", weight: 0.8, fill: false },
  county: { color: "#c3ccd4", weight: 0.5, fill: false },
  area: { color: "#8d9aa6", weight: 0.8, fill: false },
};
const LAND = "#f6f3ec";
const START_VIEW = [[18.2, 108.6], [31.2, 122.6]]; // Hainan to Zhejiang: the bundled gazetteer's coast
const CLUSTER_PX = 56;
const KIND_LETTER = { tow: "T", flatbed: "F", boat: "B" };
const CHANGE_OF = { Alert: "issued", Update: "updated", Cancel: "all_clear" };
// Provinces by the first two digits of their GB/T 2260 code, for the English console (the gazetteer
// names them in Chinese only).
const PROVINCES_EN = {
  11: "Beijing", 12: "Tianjin", 13: "Hebei", 14: "Shanxi", 15: "Inner Mongolia", 21: "Liaoning", 22: "Jilin",
  23: "Heilongjiang", 31: "Shanghai", 32: "Jiangsu", 33: "Zhejiang", 34: "Anhui", 35: "Fujian", 36: "Jiangxi",
  37: "Shandong", 41: "Henan", 42: "Hubei", 43: "Hunan", 44: "Guangdong", 45: "Guangxi", 46: "Hainan",
  50: "Chongqing", 51: "Sichuan", 52: "Guizhou", 53: "Yunnan", 54: "Tibet", 61: "Shaanxi", 62: "Gansu",
  63: "Qinghai", 64: "Ningxia", 65: "Xinjiang", 71: "Taiwan", 81: "Hong Kong", 82: "Macao",
};

// A CAP alert carries one info per language: the text in the console's language, else the first.
function inUiLanguage(byLanguage) {
  const entries = Object.entries(byLanguage || {});
  const wanted = lang().slice(0, 2).toLowerCase();
  const match = entries.find(([language]) => language.toLowerCase().startsWith(wanted));
  return (match || entries[0] || [])[1] || null;
}

function changeWords(msgType) {
  const key = `warnings.change.${CHANGE_OF[msgType] || "other"}`;
  return t(key);
}

function provinceName(properties) {
  if (lang() === "zh-CN" || !properties.name) return { text: properties.name, outside: true };
  const english = /^\d{6}$/.test(properties.code || "") ? PROVINCES_EN[Number(properties.code.slice(0, 2))] : null;
  return english ? { text: english, outside: false } : { text: properties.name, outside: true };
}

function severityOf(warning) {
  return SEVERITY_COLOURS[warning.severity] ? warning.severity : "Unknown";
}

function countsBlock(warning) {
  const c = warning.counts;
  const cell = (key, value, testid) => h("div", { class: `count ${key}` },
    h("span", { class: "value", "data-testid": testid }, number(value)), h("span", { class: "label" }, t(`map.${key}`)));
  return h("div", { class: "counts", "data-testid": "area-counts", "data-chain-id": warning.chain_id },
    cell("assetsInside", warning.matched_assets, "count-assets"),
    cell("warned", c.warned, "count-warned"),
    cell("delivered", c.delivered, "count-delivered"),
    cell("failed", c.failed, "count-failed"),
    cell("pending", c.pending, "count-pending"),
    c.held ? h("p", { class: "held muted small", "data-testid": "count-held" },
      t("warnings.held", { n: number(c.held), t: zonedTime(c.held_until) })) : null);
}

function historyList(warning) {
  return h("ol", { class: "history", "data-testid": "chain-history" }, warning.history.map((message) =>
    h("li", { class: message.ends_chain ? "ends" : "" },
      h("span", { class: `chip sev-${message.max_severity || "Unknown"}` }, changeWords(message.msg_type)),
      " ", message.max_severity ? t(`sev.${message.max_severity}`) : "", " · ",
      h("span", { class: "muted" }, zonedTime(message.sent, true)))));
}

// The headline in the console's language when the alert carries one (CAP infos per language).
function warningTitle(warning) {
  return inUiLanguage(warning.headlines) || warning.headline || inUiLanguage(warning.events) || warning.event
    || t("warnings.untitled", { n: warning.alert_id });
}

// Leaflet puts a string given to a tooltip or popup in as HTML; an element keeps outside text as text.
function label(text, className, outside = true) {
  return h("span", { class: className, "data-outside": outside ? "" : null }, text);
}

function shortAge(seconds) {
  if (seconds === null || seconds === undefined) return "?";
  if (seconds < 5) return "0s"; // also a position stamped ahead of our clock
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  return `${Math.round(seconds / 3600)}h`;
}

export function mount(root) {
  const mapElement = h("div", { class: "map", "data-testid": "ops-map" });
  const side = h("aside", { class: "side", "data-testid": "map-side" });
  root.append(h("div", { class: "map-layout" }, mapElement, side));

  const map = L.map(mapElement, {
    attributionControl: false, minZoom: 4, maxZoom: 14, zoomSnap: 0.5,
    // Live redraws can land mid-animation, where Leaflet loses track of layers it is moving; an
    // operations map wants crisp, immediate moves anyway.
    fadeAnimation: false, zoomAnimation: false, markerZoomAnimation: false,
  });
  map.fitBounds(START_VIEW);
  // Stacking, bottom to top: boundaries, CAT areas, warning areas, asset clusters, jobs, trucks.
  // Place labels sit just above the boundaries, under every area and marker: a label never hides a marker.
  for (const [pane, z] of [["base", 250], ["baseLabels", 260], ["areas", 390], ["catLabels", 400], ["clusters", 420],
    ["jobs", 450]]) {
    map.createPane(pane).style.zIndex = z;
  }
  const canvas = L.canvas({ padding: 0.3, pane: "base" });
  const layers = {
    base: L.layerGroup(), cat: L.featureGroup(), warnings: L.featureGroup(), assets: L.layerGroup(),
    jobs: L.layerGroup(), providers: L.layerGroup(),
  };
  for (const layer of Object.values(layers)) layer.addTo(map);
  L.control.layers(null, {
    [t("map.layer.base")]: layers.base, [t("map.layer.warnings")]: layers.warnings,
    [t("map.layer.assets")]: layers.assets, [t("map.layer.cat")]: layers.cat,
    [t("map.layer.jobs")]: layers.jobs, [t("map.layer.providers")]: layers.providers,
  }, { collapsed: false, position: "topright" }).addTo(map);
  addLegend(map);

  let overview = null;
  let cells = null;
  let selected = null;
  let framed = false;
  let mounted = true; // answers that arrive after the page was left must not touch the removed map
  const popup = L.popup({ maxWidth: 420, className: "area-popup" });

  get("/v1/console/basemap").then((basemap) => {
    if (!mounted) return;
    // Land first (provinces filled, no outline), then every outline on top of it, provinces last.
    const provinces = basemap.features.filter((f) => f.properties.level === "province");
    L.geoJSON({ type: "FeatureCollection", features: provinces }, {
      renderer: canvas, interactive: false, style: { stroke: false, fillColor: LAND, fillOpacity: 1 },
    }).addTo(layers.base);
    const order = { county: 0, area: 1, city: 2, province: 3 };
    const outlines = [...basemap.features].sort((a, b) => order[a.properties.level] - order[b.properties.level]);
    L.geoJSON({ type: "FeatureCollection", features: outlines }, {
      renderer: canvas, interactive: false, style: (feature) => BASE_STYLE[feature.properties.level],
      onEachFeature: (feature, layer) => {
        if (feature.properties.level === "province") {
          const name = provinceName(feature.properties);
          L.tooltip({ permanent: true, direction: "center", className: "province-label", pane: "baseLabels",
            interactive: false })
            .setContent(label(name.text, "", name.outside)).setLatLng(layer.getBounds().getCenter()).addTo(layers.base);
        }
      },
    }).addTo(layers.base);
  }).catch(showError);

  // zoom: chosen from the list, the map frames the warning's area (a click on the map keeps the view).
  function select(chainId, latlng, zoom = false) {
    selected = chainId;
    renderSide();
    const warning = overview?.warnings.find((w) => w.chain_id === chainId);
    if (!warning) return;
    const area = layers.warnings.getLayers().find((l) => l.chainId === chainId);
    if (zoom && area) map.fitBounds(area.getBounds(), { padding: [30, 30], maxZoom: 10 });
    const where = latlng || area?.getBounds().getCenter();
    if (where) {
      popup.setLatLng(where).setContent(h("div", { class: "popup", "data-testid": "area-popup" },
        h("strong", { "data-outside": "" }, warningTitle(warning)), countsBlock(warning))).openOn(map);
    }
  }

  function drawOverview() {
    layers.warnings.clearLayers();
    const ordered = [...overview.warnings].sort((a, b) =>
      (a.active - b.active) || (SEVERITY_RANK[severityOf(a)] - SEVERITY_RANK[severityOf(b)]));
    for (const warning of ordered) {
      if (!warning.area) continue;
      const colour = SEVERITY_COLOURS[severityOf(warning)];
      const area = L.geoJSON(warning.area, {
        pane: "areas",
        style: {
          color: warning.active ? colour : "#607d8b", weight: warning.active ? 2.5 : 1.5,
          fillColor: colour, fillOpacity: warning.active ? 0.28 : 0, dashArray: warning.active ? null : "6 6",
        },
      });
      area.chainId = warning.chain_id;
      area.bindTooltip(label(`${warningTitle(warning)} · ${t(`sev.${severityOf(warning)}`)}`, "area-tooltip"), { sticky: true });
      area.on("click", (event) => { L.DomEvent.stop(event); select(warning.chain_id, event.latlng); });
      area.addTo(layers.warnings);
    }
    layers.cat.clearLayers();
    for (const event of overview.cat_events) {
      if (!event.area) continue;
      L.geoJSON(event.area, { interactive: false, style: { color: "#6a1b9a", weight: 3, dashArray: "10 6", fill: false } })
        .addTo(layers.cat);
      const centre = L.geoJSON(event.area).getBounds().getCenter();
      // In a pane under the clusters, jobs and trucks: the label never hides a marker.
      L.tooltip({ permanent: true, direction: "center", className: "cat-label", pane: "catLabels", interactive: false })
        .setContent(h("span", {}, h("span", { "data-outside": "" }, event.code), ` (${t(`state.${event.status}`)})`))
        .setLatLng(centre).addTo(layers.cat);
    }
    layers.jobs.clearLayers();
    // Completed rescues leave the map at once (the board lists them); cancelled ones stay for the hour.
    for (const job of overview.jobs.filter((j) => j.state !== "completed")) {
      const place = job.at_asset || !job.place ? job.address : job.place[lang()] || job.place.en;
      L.circleMarker([job.location.lat, job.location.lon], {
        pane: "jobs", radius: job.urgency === 2 ? 9 : 7, color: "#ffffff", weight: 2, fillColor: JOB_COLOURS[job.state], fillOpacity: 1,
      }).bindTooltip(label([place, job.customer_name, t(`state.${job.state}`), job.provider, job.note,
        job.eta_minutes ? t("dispatch.eta", { n: job.eta_minutes }) : null].filter(Boolean).join(" · "), "job-tooltip"))
        .addTo(layers.jobs);
    }
    layers.providers.clearLayers();
    for (const provider of overview.providers) {
      if (!provider.location) continue;
      const stale = !provider.location_fresh;
      const icon = L.divIcon({
        className: "", iconSize: [30, 30], iconAnchor: [15, 15],
        html: h("div", { class: `truck${stale ? " stale" : ""}${provider.available ? "" : " off"}` },
          KIND_LETTER[provider.kind] || "?", h("span", { class: "age" }, shortAge(provider.location_age_s))),
      });
      L.marker([provider.location.lat, provider.location.lon], { icon, keyboard: false })
        .bindTooltip(label(`${provider.name} · ${t(`kind.${provider.kind}`)} · ${t("dispatch.slots",
          { a: provider.active_jobs, b: provider.capacity })} · ${t("dispatch.position")} ${duration(provider.location_age_s || 0)}`,
        "provider-tooltip"))
        .addTo(layers.providers);
    }
    renderSide();
    hideCollidingLabels();
    if (selected !== null && map.hasLayer(popup)) select(selected, popup.getLatLng());
  }

  // On opening the map mid-storm, show the areas in force; later warnings never move the view.
  function frameWarnings() {
    const active = layers.warnings.getLayers().filter((l) => overview.warnings.find((w) => w.chain_id === l.chainId)?.active);
    if (!active.length) return true;
    map.fitBounds(L.featureGroup(active).getBounds(), { padding: [30, 30], maxZoom: 10 });
    return true;
  }

  function drawCells() {
    layers.assets.clearLayers();
    for (const [lon, lat, count] of cells.cells) {
      const size = Math.round(24 + 9 * Math.log10(count));
      L.marker([lat, lon], {
        pane: "clusters", interactive: false, keyboard: false,
        icon: L.divIcon({ className: "", iconSize: [size, size],
          html: h("div", { class: "cluster", "data-count": count, style: { width: `${size}px`, height: `${size}px` } },
            number(count)) }),
      }).addTo(layers.assets);
    }
    renderSide();
  }

  function warningCard(warning) {
    const severity = severityOf(warning);
    return h("button", {
      class: `warning-card${warning.chain_id === selected ? " selected" : ""}${warning.active ? "" : " ended"}`,
      style: { "--sev": SEVERITY_COLOURS[severity] }, "data-testid": "warning-card", "data-chain-id": warning.chain_id,
      onclick: () => select(warning.chain_id, null, true),
    },
    h("div", { class: "title" }, h("span", { class: `chip sev-${severity}` }, t(`sev.${severity}`)), " ",
      h("span", { "data-outside": "", "data-testid": "warning-title" }, warningTitle(warning))),
    h("div", { class: "meta" }, h("span", { "data-outside": "" }, inUiLanguage(warning.events) || warning.event || ""),
      ` · ${changeWords(warning.current_msg_type)} · `,
      warning.active ? t("map.expires", { t: zonedTime(warning.expires_at) }) : t(`state.${warning.state}`)),
    h("div", { class: "mini" }, `${t("map.assetsInside")} `,
      h("b", {}, warning.matched_assets === null ? t("map.matching") : number(warning.matched_assets)),
      ` · ${t("map.warned")} `, h("b", {}, number(warning.counts.warned)),
      ` · ${t("map.delivered")} `, h("b", {}, number(warning.counts.delivered)),
      ` · ${t("map.failed")} `, h("b", { class: warning.counts.failed ? "bad" : "" }, number(warning.counts.failed)),
      ` · ${t("map.pending")} `, h("b", {}, number(warning.counts.pending))));
  }

  function renderSide() {
    if (!overview) return replace(side, h("p", { class: "muted" }, t("common.loading")));
    const active = overview.warnings.filter((w) => w.active);
    const ended = overview.warnings.filter((w) => !w.active);
    const chosen = overview.warnings.find((w) => w.chain_id === selected);
    const jobsByState = {};
    for (const job of overview.jobs) jobsByState[job.state] = (jobsByState[job.state] || 0) + 1;
    const fresh = overview.providers.filter((p) => p.location_fresh).length;
    return replace(side,
      h("section", {},
        h("h2", {}, t("map.warnings"), " ", h("span", { class: "badge", "data-testid": "warnings-count" }, active.length)),
        cells ? h("p", { class: "assets-total", "data-testid": "assets-total", "data-total": cells.total },
          t("map.assetsTotal", { n: number(cells.total) })) : null,
        active.length ? active.map(warningCard) : h("p", { class: "muted" }, t("map.noWarnings")),
        ended.length ? [h("h3", {}, t("map.ended")), ended.map(warningCard)] : null),
      h("section", { class: "selected-area", "data-testid": "selected-area" }, chosen
        ? [h("h2", { "data-outside": "" }, warningTitle(chosen)), h("p", { class: "muted", "data-outside": "" }, chosen.sender),
          countsBlock(chosen), h("p", { class: "instruction", "data-outside": "", "data-testid": "instruction" },
            inUiLanguage(chosen.instructions) || chosen.instruction || ""),
          h("h3", {}, t("map.history")), historyList(chosen)]
        : h("p", { class: "muted" }, t("map.select"))),
      h("section", {}, h("h2", {}, t("map.catEvents")), overview.cat_events.length
        ? overview.cat_events.map((e) => h("div", { class: "cat-card", "data-testid": "cat-event" },
          h("b", { "data-outside": "" }, e.code), " · ", h("span", { "data-outside": "" }, e.hazard), ` · ${t(`state.${e.status}`)}`, h("br"),
          h("span", { class: "muted" }, t("map.window", { a: zonedTime(e.window_start, true), b: zonedTime(e.window_end, true) }))))
        : h("p", { class: "muted" }, t("map.noCat"))),
      h("section", {}, h("h2", {}, t("map.rescue")),
        h("div", { class: "chips" }, Object.entries(jobsByState).map(([state, n]) =>
          h("span", { class: "chip job", style: { "--job": JOB_COLOURS[state] } }, `${t(`state.${state}`)} ${n}`))),
        h("p", {}, t("map.providersFresh", { n: fresh }), " · ",
          h("span", { class: overview.providers.length - fresh ? "bad" : "" },
            t("map.providersStale", { n: overview.providers.length - fresh })))),
      ingestForm());
  }

  // A person's upload is held with its reach (manual.js): the preview and its area stay until sent or dropped.
  let preview = null;
  let previewLayer = null;
  let mine = [];

  function closePreview() {
    preview = null;
    if (previewLayer) previewLayer.remove();
    previewLayer = null;
    reloadMine();
    drawOverview();
  }

  async function showPreview(warning) {
    preview = warning;
    drawOverview();
    try {
      const detail = await get(`/v1/manual-warnings/${warning.id}`);
      if (!mounted || preview !== warning || !detail.area) return;
      previewLayer = L.geoJSON(detail.area, { interactive: false, style: AREA_STYLE }).addTo(map);
      map.fitBounds(previewLayer.getBounds(), { padding: [20, 20], maxZoom: 11 });
    } catch (error) {
      showError(error);
    }
  }

  async function reloadMine() {
    try {
      mine = (await get(`/v1/manual-warnings?state=${ManualWarningState.AWAITING_APPROVAL}`)).warnings;
      if (mounted && overview) drawOverview();
    } catch (error) {
      mine = [];
    }
  }

  function ingestForm() {
    if (preview) return previewBlock(preview, { onDone: closePreview });
    const input = h("input", { type: "file", accept: ".xml,.json,.geojson,.cap", "data-testid": "ingest-file" });
    input.addEventListener("change", async () => {
      const file = input.files[0];
      if (!file) return;
      const type = /\.(geo)?json$/i.test(file.name) ? "application/geo+json" : "application/xml";
      try {
        const result = await api("POST", "/v1/alerts", new Blob([await file.arrayBuffer()], { type }),
          { "Content-Type": type });
        if (result.reach) {
          showPreview(result);
        } else { // already stored: `duplicates` names it, nothing new is held
          toast(result.stored.length ? t("map.ingested", { n: result.stored.length }) : t("map.ingestedNone"));
        }
      } catch (error) {
        showError(error);
      }
      input.value = "";
    });
    return [h("section", { class: "ingest" }, h("label", {}, t("map.ingest"), input)), myWaitingBlock(mine)];
  }

  const reload = debounce(async () => {
    try {
      const fresh = await get("/v1/console/map");
      if (!mounted) return;
      overview = fresh;
      syncClock(overview.server_time);
      drawOverview();
      if (!framed) framed = frameWarnings();
    } catch (error) {
      showError(error);
    }
  }, 150);

  const reloadCells = debounce(async () => {
    if (!mounted) return;
    const cell = CLUSTER_PX * 360 / (256 * 2 ** map.getZoom());
    const view = map.getBounds().pad(0.25);
    const bbox = [Math.max(view.getWest(), -180), Math.max(view.getSouth(), -90), Math.min(view.getEast(), 180),
      Math.min(view.getNorth(), 90)].map((v) => v.toFixed(3)).join(",");
    try {
      const fresh = await get(`/v1/console/map/assets?cell=${cell.toFixed(4)}&bbox=${bbox}`);
      if (!mounted) return;
      cells = fresh;
      drawCells();
    } catch (error) {
      showError(error);
    }
  }, 200);

  // Of two labels that overlap, the later one is hidden (CAT events before provinces); zooming in shows both.
  function hideCollidingLabels() {
    const shown = [];
    const labels = [...mapElement.querySelectorAll(".cat-label"), ...mapElement.querySelectorAll(".province-label")];
    for (const element of labels) {
      element.classList.remove("label-hidden");
      const box = element.getBoundingClientRect();
      const collides = shown.some((other) => box.left < other.right && other.left < box.right
        && box.top < other.bottom && other.top < box.bottom);
      if (collides) element.classList.add("label-hidden"); else shown.push(box);
    }
  }

  map.on("moveend", reloadCells); // zooming ends with a moveend too
  map.on("zoomend", hideCollidingLabels);
  reload();
  reloadCells();
  reloadMine();
  const ticker = setInterval(reload, 30000); // position ages and expiries move even when nothing happens

  return {
    changed(topic) {
      if (["warnings", "deliveries", "rescue", "cat_events", "reconnect"].includes(topic)) reload();
      if (["warnings", "reconnect"].includes(topic)) reloadCells();
      if (["warnings", "manual_warnings", "reconnect"].includes(topic)) reloadMine();
    },
    unmount() {
      mounted = false;
      clearInterval(ticker);
      map.remove();
    },
  };
}

function addLegend(map) {
  const legend = L.control({ position: "bottomleft" });
  legend.onAdd = () => h("div", { class: "legend" },
    h("div", {}, Object.keys(SEVERITY_COLOURS).filter((s) => s !== "Unknown").map((s) =>
      h("span", { class: "swatch", style: { "--c": SEVERITY_COLOURS[s] } }, t(`sev.${s}`)))),
    h("div", {}, t("map.legend.jobs"), ": ", ["created", "offered", "accepted", "en_route", "on_scene"].map((s) =>
      h("span", { class: "dot", style: { "--c": JOB_COLOURS[s] } }, t(`state.${s}`)))),
    h("div", {}, h("span", { class: "truck-sample" }, "F"), ` ${t("map.legend.provider")} `,
      h("span", { class: "truck-sample stale" }, "T"), ` ${t("map.legend.stale")}`));
  legend.addTo(map);
}
