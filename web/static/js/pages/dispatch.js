// Dispatch board: live rescue jobs by state with their nearest free providers; assign, re-offer, cancel.
import { get, post } from "../api.js";
import { t } from "../i18n.js";
import { ago, busy, clock, confirmButton, debounce, duration, h, replace, serverNow, showError, syncClock, time, toast }
  from "../ui.js";
import { JOB_COLOURS } from "./map.js";

const COLUMNS = [
  { key: "created", states: ["created"], title: () => t("state.created") },
  { key: "offered", states: ["offered"], title: () => t("state.offered") },
  { key: "accepted", states: ["accepted"], title: () => t("state.accepted") },
  { key: "en_route", states: ["en_route"], title: () => t("state.en_route") },
  { key: "on_scene", states: ["on_scene", "towing"], title: () => t("dispatch.onScene") },
];
const CANCELLABLE = ["created", "offered", "accepted", "en_route", "on_scene"];
const REOFFERABLE = ["offered", "accepted", "en_route"];

export function mount(root) {
  const toolbar = h("div", { class: "toolbar" });
  const board = h("div", { class: "board", "data-testid": "dispatch-board" });
  const providers = h("aside", { class: "providers", "data-testid": "providers" });
  root.append(toolbar, h("div", { class: "dispatch-layout" }, board, providers));
  let data = null;

  const reload = debounce(async () => {
    try {
      data = await get("/v1/console/dispatch");
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
  }

  function urgency(job) {
    if (job.urgency === 2) return h("span", { class: "chip danger" }, t("dispatch.personAtRisk"));
    if (job.urgency === 1) return h("span", { class: "chip warn" }, t("dispatch.vehicleRisk"));
    return null;
  }

  function nearestList(job) {
    if (!job.nearest_free.length) return h("p", { class: "muted small" }, t("dispatch.noneFree"));
    return h("ul", { class: "nearest" }, job.nearest_free.map((p) => h("li", {},
      h("span", { class: "provider-name" }, p.name, " ", h("span", { class: "muted" }, t(`kind.${p.kind}`))),
      h("span", { class: "how" }, t("dispatch.km", { n: p.distance_km }), " · ", t("dispatch.eta", { n: p.eta_minutes })),
      job.state === "created" ? h("button", {
        class: "primary small", "data-testid": "assign", "data-provider-id": p.provider_id,
        onclick: (event) => act(event.currentTarget, `/v1/rescue/jobs/${job.id}/assign`, { provider_id: p.provider_id },
          t("dispatch.assigned", { j: job.id, p: p.name })),
      }, t("dispatch.assign")) : null)));
  }

  function offerLine(job) {
    if (job.state !== "offered" || !job.offer) return null;
    const total = data.offer_timeout_s * 1000;
    return h("div", { class: "offer" },
      h("div", {}, t("dispatch.offeredTo", { p: job.provider?.name || job.offer.provider_id }),
        ` · ${t("dispatch.km", { n: job.offer.distance_km })} · ${t("dispatch.attempt", { n: job.offer.attempt })}`),
      h("div", { class: "countdown", "data-expires": job.offer.expires_at, "data-total": total, "data-testid": "countdown" },
        h("span", { class: "label" }, t("dispatch.expires")), " ", h("b", { class: "left" }, ""),
        h("div", { class: "bar" }, h("div", { class: "fill" }))));
  }

  function jobCard(job) {
    const actions = [];
    if (REOFFERABLE.includes(job.state)) {
      actions.push(h("button", {
        class: "small", "data-testid": "reoffer",
        onclick: (event) => act(event.currentTarget, `/v1/rescue/jobs/${job.id}/reoffer`, {}, t("dispatch.reoffered", { j: job.id })),
      }, t("dispatch.reoffer")));
    }
    if (CANCELLABLE.includes(job.state)) {
      actions.push(confirmButton(t("dispatch.cancelJob"), { class: "small danger", "data-testid": "cancel" }, async () => {
        await post(`/v1/rescue/jobs/${job.id}/status`, { status: "cancelled", note: "cancelled by the dispatcher" });
        toast(t("dispatch.cancelled", { j: job.id }));
        reload();
      }));
    }
    return h("article", { class: `job-card urgency-${job.urgency}`, style: { "--job": JOB_COLOURS[job.state] },
      "data-testid": "job-card", "data-job-id": job.id, "data-state": job.state },
    h("header", {}, h("b", {}, `#${job.id}`), ` · ${t(`kind.${job.needs}`)}`,
      job.claim_id ? ` · ${t("dispatch.claim", { n: job.claim_id })}` : "", " ", urgency(job)),
    h("div", { class: "muted small" }, t("dispatch.waiting", { n: duration((serverNow() - Date.parse(job.created_at)) / 1000) }),
      ` · ${job.location.lat.toFixed(3)}, ${job.location.lon.toFixed(3)}`),
    job.note ? h("div", { class: "job-note", "data-testid": "job-note" }, job.note) : null,
    job.provider && job.state !== "offered"
      ? h("div", { class: "assigned" }, h("b", {}, job.provider.name),
        job.eta_minutes ? ` · ${t("dispatch.eta", { n: job.eta_minutes })}` : "",
        job.eta_minutes && job.accepted_at && ["accepted", "en_route"].includes(job.state)
          ? h("span", { class: "muted" }, ` (≈ ${time(new Date(Date.parse(job.accepted_at) + job.eta_minutes * 60000).toISOString())})`)
          : "")
      : null,
    offerLine(job),
    job.state === "created" || job.state === "offered" ? nearestList(job) : null,
    actions.length ? h("div", { class: "actions" }, actions) : null);
  }

  function render() {
    const counts = Object.fromEntries(COLUMNS.map((c) => [c.key, data.jobs.filter((j) => c.states.includes(j.state)).length]));
    replace(toolbar,
      COLUMNS.map((c) => h("span", { class: "stat", style: { "--job": JOB_COLOURS[c.states[0]] } }, c.title(), " ",
        h("b", {}, counts[c.key]))),
      h("span", { class: "muted" }, t("dispatch.finished", { n: data.finished_last_hour })),
      h("span", { class: "spacer" }),
      h("button", { class: "primary", "data-testid": "batch",
        onclick: async (event) => {
          const result = await busy(event.currentTarget, () => post("/v1/rescue/dispatch", {}));
          if (result) { toast(t("dispatch.batchDone", { n: result.offered })); reload(); }
        } }, t("dispatch.batch")));
    replace(board, COLUMNS.map((column) => {
      const jobs = data.jobs.filter((j) => column.states.includes(j.state));
      return h("section", { class: "column", "data-testid": `column-${column.key}` },
        h("h2", { style: { "--job": JOB_COLOURS[column.states[0]] } }, column.title(), " ", h("span", { class: "badge" }, jobs.length)),
        jobs.length ? jobs.map(jobCard) : h("p", { class: "muted" }, t("dispatch.empty")));
    }));
    replace(providers, h("h2", {}, t("dispatch.providers")),
      h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, [t("dispatch.name"), t("dispatch.kind"), t("dispatch.load"), t("dispatch.position")]
          .map((label) => h("th", {}, label)))),
        h("tbody", {}, data.providers.map((p) => h("tr", { class: p.location_fresh && p.available ? "" : "stale",
          "data-testid": "provider-row" },
        h("td", {}, p.name), h("td", {}, t(`kind.${p.kind}`)),
        h("td", {}, p.available ? t("dispatch.slots", { a: p.active_jobs, b: p.capacity }) : t("dispatch.unavailable")),
        h("td", { class: p.location_fresh ? "" : "bad" }, p.location_at ? ago(p.location_at) : t("dispatch.noPosition")))))));
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

  reload();
  const ticker = setInterval(tick, 1000);
  const refresher = setInterval(reload, 30000);
  return {
    changed(topic) {
      if (["rescue", "reconnect"].includes(topic)) reload();
    },
    unmount() {
      clearInterval(ticker);
      clearInterval(refresher);
    },
  };
}
