// Dispatch board: live rescue jobs by state, most urgent and longest waiting first, each with where it is,
// whose it is (and a call button), what is wrong, how long it has waited and why it has no truck yet;
// the jobs and trucks on a map; assign (by hand, beyond the radius with a reason), re-offer, cancel, batch.
import { get, post } from "../api.js";
import { lang, t } from "../i18n.js";
import { JobState, OfferState } from "../states.js";
import { busy, clock, debounce, duration, h, replace, serverNow, showError, syncClock, toast }
  from "../ui.js";
import { zonedTime } from "../zone.js";
import { JOB_COLOURS } from "./map.js";

const COLUMNS = [
  { key: JobState.CREATED, states: [JobState.CREATED], title: () => t("state.created") },
  { key: JobState.OFFERED, states: [JobState.OFFERED], title: () => t("state.offered") },
  { key: JobState.ACCEPTED, states: [JobState.ACCEPTED], title: () => t("state.accepted") },
  { key: JobState.EN_ROUTE, states: [JobState.EN_ROUTE], title: () => t("state.en_route") },
  { key: JobState.ON_SCENE, states: [JobState.ON_SCENE, JobState.TOWING], title: () => t("dispatch.onScene") },
];
const CANCELLABLE = [JobState.CREATED, JobState.OFFERED, JobState.ACCEPTED, JobState.EN_ROUTE, JobState.ON_SCENE];
const REOFFERABLE = [JobState.OFFERED, JobState.ACCEPTED, JobState.EN_ROUTE];
const HOLDABLE = [JobState.CREATED, JobState.OFFERED];
const AMBER_AFTER_S = 10 * 60;
const RED_AFTER_S = 30 * 60;
const KIND_LETTER = { tow: "T", flatbed: "F", boat: "B" };
const CONFIRM_MS = 5000;

// +8617000000001 -> +86 170****0001: enough to tell two numbers apart on a shared screen.
export function maskPhone(phone) {
  if (!phone) return "";
  if (phone.includes("*")) return phone;
  const digits = phone.replace(/\D/g, "");
  const china = phone.startsWith("+86") ? digits.slice(2) : null;
  const national = china ?? digits;
  if (national.length < 7) return "****";
  const masked = `${national.slice(0, 3)}****${national.slice(-4)}`;
  return china !== null ? `+86 ${masked}` : masked;
}

export function ageLevel(seconds) {
  if (seconds > RED_AFTER_S) return "red";
  if (seconds > AMBER_AFTER_S) return "amber";
  return "fresh";
}

// Where the job is, in the page's language: the insured asset's address, or the district it lies in.
export function jobPlace(job) {
  if (job.at_asset || !job.place) return job.address;
  return job.place[lang()] || job.place.en || job.address;
}

export function problemWords(job) {
  const words = (job.problems || []).filter((p) => p !== "cannot_drive").map((p) => t(`flag.${p}`));
  if (!words.length && (job.problems || []).includes("cannot_drive")) words.push(t("flag.cannot_drive"));
  const shown = words.length ? words : [t("board.needsOnly", { k: t(`kind.${job.needs}`) })];
  return shown.map((word, index) => (index ? word : word.charAt(0).toUpperCase() + word.slice(1)));
}

// A text with its {placeholders} filled: names from outside go in as their own elements (data-outside),
// so tests and readers can tell the page's words from the names it shows.
function phrase(key, vars, outsideNames = []) {
  const template = t(key, Object.fromEntries(Object.entries(vars).filter(([name]) => !outsideNames.includes(name))));
  return template.split(/(\{\w+\})/).filter(Boolean).map((part) => {
    const name = part.slice(1, -1);
    return part.startsWith("{") && outsideNames.includes(name) ? h("span", { "data-outside": "" }, vars[name]) : part;
  });
}

function lastOfferWords(last) {
  if (!last) return null;
  const key = { expired: "board.why.expired", rejected: "board.why.rejected" }[last.state] || "board.why.withdrawn";
  return phrase(key, { p: last.provider_name, t: zonedTime(last.at) }, ["p"]);
}

// Why a job has no truck, as one sentence: "Truck 05 let its offer expire at 14:02 CST (Beijing); no free
// truck that can do a flatbed job within 100 km; nearest free truck 12, 68 km."
export function reasonWords(reason) {
  if (!reason) return [];
  const nearest = reason.nearest_free;
  const kind = t(`kind.${reason.needs}`);
  const main = {
    held: ["board.why.held", { t: zonedTime(reason.held_until) }],
    for_dispatcher: ["board.why.forDispatcher", { t: zonedTime(reason.held_until) }],
    no_capable_provider: ["board.why.noCapable", { k: kind }],
    all_declined: ["board.why.allDeclined", {}],
    none_within_radius: ["board.why.noneWithin", { k: kind, r: reason.radius_km }],
    no_free_provider: ["board.why.noFree", { k: kind }],
  }[reason.code] || ["board.why.batch", {}];
  const parts = [lastOfferWords(reason.last_offer), phrase(...main)];
  if (nearest && reason.code !== "held") {
    parts.push(phrase("board.why.nearest", { p: nearest.name, n: nearest.distance_km }, ["p"]));
  }
  const nodes = parts.filter(Boolean).flatMap((part, index) => (index ? [t("board.why.sep"), ...part] : part));
  if (typeof nodes[0] === "string") nodes[0] = nodes[0].charAt(0).toUpperCase() + nodes[0].slice(1);
  return [...nodes, t("board.why.end")];
}

function declinedWords(declined) {
  if (!declined) return null;
  const at = zonedTime(declined.at);
  if (declined.state === OfferState.EXPIRED) return t("board.truck.expired", { t: at });
  if (declined.state === OfferState.REJECTED) return t("board.truck.rejected", { t: at });
  return t("board.truck.withdrawn", { t: at });
}

export function mount(root) {
  const toolbar = h("div", { class: "toolbar dispatch-toolbar" });
  const report = h("section", { class: "batch-report", "data-testid": "batch-report", "aria-live": "polite", hidden: true });
  const board = h("div", { class: "board storm-board", "data-testid": "dispatch-board" });
  const finishedBox = h("section", { class: "finished-jobs", "data-testid": "finished-jobs", hidden: true });
  const mapElement = h("div", { class: "dispatch-map", "data-testid": "dispatch-map", role: "region",
    "aria-label": t("board.mapLabel") });
  const providers = h("div", { class: "providers-list", "data-testid": "providers" });
  const side = h("aside", { class: "dispatch-side" }, mapElement, providers);
  root.append(toolbar, report, h("div", { class: "dispatch-layout storm-layout" },
    h("div", { class: "board-area" }, board, finishedBox), side));
  let data = null;
  let showFinished = localStorage.getItem("haven.dispatch.finished") === "1";
  const open = new Set(); // jobs whose truck chooser is open: held while the dispatcher works them
  const reasons = new Map(); // typed override reasons survive a live re-render
  const armed = new Map(); // job id -> when its cancel button was first clicked
  let mounted = true;

  const map = typeof L === "undefined" ? null : startMap(mapElement);

  const reload = debounce(async () => {
    try {
      const fresh = await get("/v1/console/dispatch");
      if (!mounted) return;
      data = fresh;
      syncClock(data.server_time);
      render();
    } catch (error) {
      showError(error);
    }
  }, 150);

  async function act(button, path, body, message) {
    const done = await busy(button, () => post(path, body));
    if (done) {
      toast(message);
      reload();
    }
    return done;
  }

  async function holdJob(job) {
    try {
      await post(`/v1/rescue/jobs/${job.id}/hold`, {});
    } catch (error) {
      showError(error);
    }
  }

  function urgency(job) {
    if (job.urgency === 2) return h("span", { class: "chip danger" }, t("dispatch.personAtRisk"));
    if (job.urgency === 1) return h("span", { class: "chip warn" }, t("dispatch.vehicleRisk"));
    return null;
  }

  function truckLine(job, truck, assignable) {
    const declined = declinedWords(truck.declined);
    return h("li", { "data-testid": "truck-choice", "data-provider-id": truck.provider_id },
      h("span", { class: "provider-name" }, h("span", { "data-outside": "" }, truck.name), " ",
        h("span", { class: "muted" }, t(`kind.${truck.kind}`))),
      h("span", { class: "how" }, t("dispatch.km", { n: truck.distance_km }), " · ", t("dispatch.eta", { n: truck.eta_minutes }),
        declined ? h("span", { class: "declined", "data-testid": "declined" }, ` · ${declined}`) : null),
      assignable ? h("button", {
        class: "primary small", "data-testid": "assign", "data-provider-id": truck.provider_id,
        "aria-label": t("board.assignTo", { p: truck.name }),
        onclick: (event) => assign(event.currentTarget, job, truck),
      }, t("dispatch.assign")) : null);
  }

  async function assign(button, job, truck, overrideReason) {
    const body = { provider_id: truck.provider_id };
    if (overrideReason) body.override_reason = overrideReason;
    const done = await act(button, `/v1/rescue/jobs/${job.id}/assign`, body,
      t("board.assigned", { a: jobPlace(job), p: truck.name }));
    if (done) {
      open.delete(job.id);
      reasons.delete(job.id);
    }
  }

  function nearestList(job) {
    if (!job.nearest_free.length) return h("p", { class: "muted small" }, t("dispatch.noneFree"));
    return h("ul", { class: "nearest" }, job.nearest_free.map((truck) => truckLine(job, truck, job.state === JobState.CREATED)));
  }

  function chooser(job) {
    if (!open.has(job.id)) return null;
    const reasonInput = h("input", { type: "text", maxlength: 500, "data-testid": "override-reason",
      id: `override-${job.id}`, value: reasons.get(job.id) || "" });
    reasonInput.addEventListener("input", () => reasons.set(job.id, reasonInput.value));
    const choices = (job.choices || []).map((truck) => {
      const declined = declinedWords(truck.declined);
      return h("li", { "data-testid": "truck-choice", "data-provider-id": truck.provider_id,
        class: truck.beyond_radius ? "beyond" : "" },
      h("span", { class: "provider-name" }, h("span", { "data-outside": "" }, truck.name), " ",
        h("span", { class: "muted" }, t(`kind.${truck.kind}`))),
      h("span", { class: "how" }, t("dispatch.km", { n: truck.distance_km }), " · ", t("dispatch.eta", { n: truck.eta_minutes }),
        truck.beyond_radius ? h("span", { class: "beyond-word" }, ` · ${t("board.beyondRadius", { r: data.radius_km })}`) : null,
        declined ? h("span", { class: "declined" }, ` · ${declined}`) : null),
      job.state === JobState.CREATED ? h("button", {
        class: truck.beyond_radius ? "small danger" : "primary small",
        "data-testid": truck.beyond_radius ? "assign-override" : "assign", "data-provider-id": truck.provider_id,
        "aria-label": t("board.assignTo", { p: truck.name }),
        onclick: (event) => {
          const reason = reasonInput.value.trim();
          if (truck.beyond_radius && !reason) {
            toast(t("board.reasonNeeded", { r: data.radius_km }), "error");
            reasonInput.focus();
            return;
          }
          assign(event.currentTarget, job, truck, truck.beyond_radius ? reason : undefined);
        },
      }, t("dispatch.assign")) : null);
    });
    return h("div", { class: "chooser", "data-testid": "assign-panel" },
      h("p", { class: "small hold-note" }, job.held_until
        ? t("board.heldUntil", { t: zonedTime(job.held_until) }) : t("board.holding")),
      choices.length ? h("ul", { class: "nearest choices" }, choices) : h("p", { class: "muted small" }, t("board.noTrucks")),
      (job.choices || []).some((c) => c.beyond_radius)
        ? h("label", { class: "override", for: `override-${job.id}` }, t("board.overrideLabel", { r: data.radius_km }))
        : null,
      (job.choices || []).some((c) => c.beyond_radius) ? reasonInput : null,
      h("button", { class: "small quiet-button", "data-testid": "close-chooser",
        onclick: () => { open.delete(job.id); render(); } }, t("board.closeChooser")));
  }

  // Cancelling asks for a second click; the armed state is kept per job, so a live re-render between
  // the two clicks does not disarm it.
  function cancelButton(job) {
    const left = () => (armed.get(job.id) || 0) + CONFIRM_MS - Date.now();
    const label = () => (left() > 0 ? t("common.confirm") : t("dispatch.cancelJob"));
    const button = h("button", { class: "small danger", "data-testid": "cancel" }, label());
    const show = () => {
      button.classList.toggle("armed", left() > 0);
      button.textContent = label();
    };
    if (left() > 0) setTimeout(show, left() + 50);
    show();
    button.addEventListener("click", async () => {
      if (left() <= 0) {
        armed.set(job.id, Date.now());
        show();
        setTimeout(show, CONFIRM_MS + 50);
        return;
      }
      armed.delete(job.id);
      await busy(button, async () => {
        await post(`/v1/rescue/jobs/${job.id}/status`, { status: JobState.CANCELLED, note: "cancelled by the dispatcher" });
        toast(t("board.cancelled", { a: jobPlace(job) }));
        open.delete(job.id);
        reload();
      });
    });
    return button;
  }

  function offerLine(job) {
    if (job.state !== JobState.OFFERED || !job.offer) return null;
    const total = data.offer_timeout_s * 1000;
    return h("div", { class: "offer" },
      h("div", {}, phrase("dispatch.offeredTo", { p: job.provider?.name || "–" }, ["p"]),
        ` · ${t("dispatch.km", { n: Math.round(job.offer.distance_km * 10) / 10 })} · ${t("dispatch.attempt", { n: job.offer.attempt })}`),
      h("div", { class: "countdown", "data-expires": job.offer.expires_at, "data-total": total, "data-testid": "countdown" },
        h("span", { class: "label" }, t("dispatch.expires")), " ", h("b", { class: "left" }, ""),
        h("div", { class: "bar" }, h("div", { class: "fill" }))));
  }

  function callLine(job) {
    const phone = job.customer_phone;
    const dialable = phone && !phone.includes("*");
    return h("div", { class: "who" },
      h("span", { class: "customer-name", "data-testid": "customer-name", "data-outside": "" },
        job.customer_name || t("board.noName")),
      phone ? h("span", { class: "phone", "data-testid": "customer-phone" }, ` · ${maskPhone(phone)}`) : null,
      dialable ? h("a", { class: "call", href: `tel:${phone}`, "data-testid": "call",
        "aria-label": t("board.callWho", { n: job.customer_name || maskPhone(phone) }) }, t("board.call")) : null);
  }

  function waitedLine(job) {
    const level = ageLevel(job.waited_s);
    const words = level === "red" ? t("board.waitRed") : level === "amber" ? t("board.waitAmber") : null;
    return h("div", { class: `waited age-${level}`, "data-testid": "waited", "data-age": level },
      t("dispatch.waiting", { n: duration(job.waited_s) }), words ? h("b", { class: "age-word" }, ` · ${words}`) : null);
  }

  function jobCard(job) {
    const actions = [];
    if (HOLDABLE.includes(job.state) && !open.has(job.id)) {
      actions.push(h("button", { class: "small", "data-testid": "choose",
        onclick: async () => { open.add(job.id); render(); await holdJob(job); reload(); } }, t("board.choose")));
    }
    if (REOFFERABLE.includes(job.state)) {
      actions.push(h("button", {
        class: "small", "data-testid": "reoffer",
        onclick: (event) => act(event.currentTarget, `/v1/rescue/jobs/${job.id}/reoffer`, {},
          t("board.reoffered", { a: jobPlace(job) })),
      }, t("dispatch.reoffer")));
    }
    if (CANCELLABLE.includes(job.state)) actions.push(cancelButton(job));
    const level = ageLevel(job.waited_s);
    return h("article", { class: `job-card urgency-${job.urgency} age-${level}${job.held ? " held" : ""}`,
      style: { "--job": JOB_COLOURS[job.state] },
      "data-testid": "job-card", "data-job-id": job.id, "data-state": job.state, "data-age": level },
    h("header", {}, urgency(job), h("b", { class: "problems", "data-testid": "problems" }, problemWords(job).join(" · "))),
    h("div", { class: "address", "data-testid": "job-address", "data-outside": "" }, jobPlace(job)),
    job.at_asset && job.place ? h("div", { class: "muted small", "data-outside": "" }, job.place[lang()] || job.place.en) : null,
    callLine(job),
    waitedLine(job),
    job.held && !open.has(job.id) && !job.unplaced ? h("div", { class: "held-line small" }, t("board.heldUntil", { t: zonedTime(job.held_until) })) : null,
    job.state === JobState.CREATED && job.unplaced
      ? h("div", { class: "unplaced", "data-testid": "unplaced-reason", "data-code": job.unplaced.code },
        reasonWords(job.unplaced)) : null,
    job.note ? h("div", { class: "job-note", "data-testid": "job-note", "data-outside": "" }, job.note) : null,
    job.provider && job.state !== JobState.OFFERED
      ? h("div", { class: "assigned" }, h("b", { "data-outside": "" }, job.provider.name),
        job.eta_minutes ? ` · ${t("dispatch.eta", { n: job.eta_minutes })}` : "",
        job.eta_minutes && job.accepted_at && [JobState.ACCEPTED, JobState.EN_ROUTE].includes(job.state)
          ? h("span", { class: "muted" }, ` (≈ ${zonedTime(new Date(Date.parse(job.accepted_at) + job.eta_minutes * 60000).toISOString())})`)
          : "")
      : null,
    offerLine(job),
    HOLDABLE.includes(job.state) ? nearestList(job) : null,
    chooser(job),
    actions.length ? h("div", { class: "actions" }, actions) : null);
  }

  function finishedCard(job) {
    return h("li", { "data-testid": "finished-job", "data-job-id": job.id },
      h("span", { class: "chip job", style: { "--job": JOB_COLOURS[job.state] } }, t(`state.${job.state}`)), " ",
      h("span", { "data-outside": "" }, jobPlace(job)), " · ",
      h("span", { "data-outside": "" }, job.customer_name || t("board.noName")), " · ",
      h("span", { class: "muted" }, zonedTime(job.finished_at)));
  }

  function renderReport(result) {
    const byId = new Map([...data.jobs, ...data.finished].map((job) => [job.id, job]));
    const name = (id) => (byId.has(id) ? jobPlace(byId.get(id)) : t("board.aJob"));
    report.hidden = false;
    replace(report,
      h("h2", {}, t("board.batchTitle", { n: result.offered, u: result.unplaced.length })),
      result.held ? h("p", { class: "muted" }, t("board.batchHeld", { n: result.held })) : null,
      result.offered_jobs.length ? h("ul", { "data-testid": "batch-offered" }, result.offered_jobs.map((o) =>
        h("li", {}, h("span", { "data-outside": "" }, name(o.job_id)), " → ", h("span", { "data-outside": "" }, o.provider_name),
          ` · ${t("dispatch.km", { n: o.distance_km })}`))) : null,
      result.unplaced.length ? h("ul", { "data-testid": "batch-unplaced" }, result.unplaced.map((u) =>
        h("li", { "data-code": u.reason.code }, h("b", { "data-outside": "" }, name(u.job_id)), ": ", reasonWords(u.reason)))) : null,
      !result.pending && !result.held ? h("p", { class: "muted" }, t("board.batchNothing")) : null,
      h("button", { class: "small", "data-testid": "close-report", onclick: () => { report.hidden = true; } }, t("board.closeReport")));
  }

  function render() {
    const counts = Object.fromEntries(COLUMNS.map((c) => [c.key, data.jobs.filter((j) => c.states.includes(j.state)).length]));
    const toggle = h("input", { type: "checkbox", id: "show-finished", "data-testid": "show-finished",
      checked: showFinished });
    toggle.addEventListener("change", () => {
      showFinished = toggle.checked;
      localStorage.setItem("haven.dispatch.finished", showFinished ? "1" : "");
      render();
    });
    replace(toolbar,
      COLUMNS.map((c) => h("span", { class: "stat", style: { "--job": JOB_COLOURS[c.states[0]] } }, c.title(), " ",
        h("b", {}, counts[c.key]))),
      h("label", { class: "check", for: "show-finished" }, toggle,
        t("board.showFinished", { n: data.finished_last_hour })),
      h("span", { class: "spacer" }),
      h("button", { class: "primary", "data-testid": "batch",
        onclick: async (event) => {
          const result = await busy(event.currentTarget, () => post("/v1/rescue/dispatch", {}));
          if (result) {
            toast(t("board.batchTitle", { n: result.offered, u: result.unplaced.length }));
            renderReport(result);
            reload();
          }
        } }, t("dispatch.batch")));
    replace(board, COLUMNS.map((column) => {
      const jobs = data.jobs.filter((j) => column.states.includes(j.state));
      return h("section", { class: "column", "data-testid": `column-${column.key}`, "aria-label": column.title() },
        h("h2", { style: { "--job": JOB_COLOURS[column.states[0]] } }, column.title(), " ", h("span", { class: "badge" }, jobs.length)),
        jobs.length ? jobs.map(jobCard) : h("p", { class: "muted" }, t("dispatch.empty")));
    }));
    finishedBox.hidden = !showFinished;
    replace(finishedBox, showFinished ? [h("h2", {}, t("board.finishedTitle")), data.finished.length
      ? h("ul", { class: "finished-list" }, data.finished.map(finishedCard))
      : h("p", { class: "muted" }, t("dispatch.empty"))] : null);
    replace(providers, h("h2", {}, t("dispatch.providers")),
      h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, [t("dispatch.name"), t("dispatch.kind"), t("dispatch.load"), t("dispatch.position")]
          .map((label) => h("th", { scope: "col" }, label)))),
        h("tbody", {}, data.providers.map((p) => h("tr", { class: p.location_fresh && p.available ? "" : "stale",
          "data-testid": "provider-row" },
        h("td", { "data-outside": "" }, p.name), h("td", {}, t(`kind.${p.kind}`)),
        h("td", {}, p.available ? t("dispatch.slots", { a: p.active_jobs, b: p.capacity }) : t("dispatch.unavailable")),
        h("td", { class: p.location_fresh ? "" : "bad", "data-testid": "position-age" },
          p.location_at ? t("common.ago", { n: duration(p.location_age_s) }) : t("dispatch.noPosition")))))));
    map?.draw(data);
    tick();
  }

  function tick() {
    for (const element of board.querySelectorAll("[data-expires]")) {
      const left = Date.parse(element.dataset.expires) - serverNow();
      element.querySelector(".left").textContent = left > 0 ? clock(left) : t("dispatch.expired");
      element.classList.toggle("urgent", left < 60000);
      const share = Math.max(0, Math.min(1, left / Number(element.dataset.total)));
      element.querySelector(".fill").style.width = `${(share * 100).toFixed(1)}%`;
    }
  }

  function renewHolds() {
    if (!data) return;
    for (const job of data.jobs) if (open.has(job.id) && HOLDABLE.includes(job.state)) holdJob(job);
  }

  reload();
  const ticker = setInterval(tick, 1000);
  const refresher = setInterval(reload, 30000);
  const holder = setInterval(renewHolds, 20000); // well inside the shortest hold a setting allows in practice
  return {
    changed(topic) {
      if (["rescue", "reconnect"].includes(topic)) reload();
    },
    unmount() {
      mounted = false;
      clearInterval(ticker);
      clearInterval(refresher);
      clearInterval(holder);
      map?.remove();
    },
  };
}

// The board's map: jobs by state and trucks with the age of their position. Leaflet reads a string
// given to a tooltip or a divIcon as HTML, so it is handed elements.
function startMap(element) {
  const map = L.map(element, { attributionControl: false, minZoom: 4, maxZoom: 15, zoomSnap: 0.5,
    fadeAnimation: false, zoomAnimation: false, markerZoomAnimation: false });
  map.fitBounds([[18.2, 108.6], [31.2, 122.6]]);
  map.createPane("base").style.zIndex = 250; // under the jobs and trucks, whenever it arrives
  map.createPane("jobs").style.zIndex = 650; // a job above the truck parked beside it
  const canvas = L.canvas({ padding: 0.3, pane: "base" });
  const base = L.layerGroup().addTo(map);
  const jobs = L.layerGroup().addTo(map);
  const trucks = L.layerGroup().addTo(map);
  let framed = false;
  get("/v1/console/basemap").then((basemap) => {
    L.geoJSON(basemap, { renderer: canvas, interactive: false,
      style: (f) => ({ color: f.properties.level === "province" ? "#4e5d6c" : "#b8c2cc",
        weight: f.properties.level === "province" ? 1.4 : 0.6, fill: f.properties.level === "province",
        fillColor: "#f6f3ec", fillOpacity: 1 }) }).addTo(base);
  }).catch(() => {});

  function draw(data) {
    jobs.clearLayers();
    trucks.clearLayers();
    const points = [];
    for (const job of data.jobs) {
      const where = [job.location.lat, job.location.lon];
      points.push(where);
      L.circleMarker(where, { pane: "jobs", radius: job.urgency === 2 ? 9 : 7, color: "#ffffff", weight: 2,
        fillColor: JOB_COLOURS[job.state], fillOpacity: 1 })
        .bindTooltip(h("span", { class: "job-tooltip" }, [jobPlace(job), job.customer_name, t(`state.${job.state}`),
          problemWords(job).join(", ")].filter(Boolean).join(" · ")))
        .addTo(jobs);
    }
    for (const provider of data.providers) {
      if (!provider.location) continue;
      const where = [provider.location.lat, provider.location.lon];
      points.push(where);
      const icon = L.divIcon({ className: "", iconSize: [30, 30], iconAnchor: [15, 15],
        html: h("div", { class: `truck${provider.location_fresh ? "" : " stale"}${provider.available ? "" : " off"}` },
          KIND_LETTER[provider.kind] || "?") });
      L.marker(where, { icon, keyboard: false })
        .bindTooltip(h("span", { class: "provider-tooltip" }, `${provider.name} · ${t(`kind.${provider.kind}`)} · ${
          t("dispatch.position")} ${t("common.ago", { n: duration(provider.location_age_s || 0) })}`))
        .addTo(trucks);
    }
    if (!framed && points.length) {
      map.fitBounds(L.latLngBounds(points), { padding: [24, 24], maxZoom: 12 });
      framed = true;
    }
  }

  return { draw, remove: () => map.remove() };
}
