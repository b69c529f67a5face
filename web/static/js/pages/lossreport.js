// The loss-prevention report (managers, admins): for one CAT event, customers warned before its window
// against those who were not. A bar chart of claims per 1,000 assets with the 95% interval drawn as a
// whisker, and the same figures as tables (the chart's text equivalent), the not-warned by reason, and
// the CSV file. Groups too small to conclude anything from say so in words instead of a bare number.
import { get } from "../api.js";
import { lang, t } from "../i18n.js";
import { CatEventStatus } from "../states.js";
import { h, money, number, replace, showError } from "../ui.js";
import { zonedTime } from "../zone.js";

const CHART_SCRIPT = "/static/vendor/chartjs/chart.umd.min.js";
const GROUPS = ["warned", "not_warned"];
const COLOURS = { warned: "#0b63ce", not_warned: "#c2410c" };
const KNOWN_KINDS = ["all", "vehicle", "home", "shop", "factory"];

function locale() {
  return lang() === "zh-CN" ? "zh-CN" : "en-GB";
}

function decimal(value, digits = 1) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function percent(value) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString(locale(), { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
}

function wholePercent(value) {
  return Number(value).toLocaleString(locale(), { style: "percent", maximumFractionDigits: 0 });
}

function kindName(kind) {
  return KNOWN_KINDS.includes(kind) ? t(`lossreport.kind.${kind}`) : t("lossreport.kind.other");
}

// Chart.js comes as one UMD file from npm (served under /static/vendor); loaded once, on first use.
let chartLibrary = null;
function loadChartLibrary() {
  if (window.Chart) return Promise.resolve(window.Chart);
  chartLibrary ??= new Promise((resolve, reject) => {
    const script = h("script", { src: CHART_SCRIPT });
    script.addEventListener("load", () => resolve(window.Chart));
    script.addEventListener("error", () => { chartLibrary = null; reject(new Error(t("lossreport.noChart"))); });
    document.head.append(script);
  });
  return chartLibrary;
}

// Draws each bar's 95% interval as a whisker (a line with caps) over the bars.
const whiskers = {
  id: "havenWhiskers",
  afterDatasetsDraw(chart) {
    const { ctx, scales: { y } } = chart;
    chart.data.datasets.forEach((dataset, index) => {
      const meta = chart.getDatasetMeta(index);
      if (meta.hidden) return;
      meta.data.forEach((bar, at) => {
        const range = dataset.intervals[at];
        if (!range || range[0] === null) return;
        const top = y.getPixelForValue(range[1]), bottom = y.getPixelForValue(range[0]);
        const cap = Math.min(8, bar.width / 3);
        ctx.save();
        ctx.strokeStyle = "#1c2833";
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.moveTo(bar.x, top); ctx.lineTo(bar.x, bottom);
        ctx.moveTo(bar.x - cap, top); ctx.lineTo(bar.x + cap, top);
        ctx.moveTo(bar.x - cap, bottom); ctx.lineTo(bar.x + cap, bottom);
        ctx.stroke();
        ctx.restore();
      });
    });
  },
};

function inconclusiveWords(figure, method) {
  if (figure.reason === "interval_too_wide") {
    return t("lossreport.tooWide", { w: number(method.max_interval_width_per_1000) });
  }
  return t("lossreport.tooFew", { m: number(method.min_group) });
}

// "50.0 (38.1–65.3)", or in words when there is nothing to conclude from.
function rateText(rate, method, { perThousand = true } = {}) {
  if (!rate.n) return t("lossreport.none");
  const counts = t("lossreport.ofN", { k: number(rate.successes), n: number(rate.n) });
  if (!rate.conclusive) return `${inconclusiveWords(rate, method)} · ${counts}`;
  const [value, low, high] = perThousand
    ? [decimal(rate.per_1000), decimal(rate.low_per_1000), decimal(rate.high_per_1000)]
    : [percent(rate.share), percent(rate.low), percent(rate.high)];
  return `${value} (${t("lossreport.interval", { a: low, b: high })}) · ${counts}`;
}

function amountText(average, method) {
  if (!average.n) return t("lossreport.none");
  const counts = t("lossreport.claimsN", { n: number(average.n) });
  if (!average.conclusive) return `${inconclusiveWords(average, method)} · ${counts}`;
  return `${t("common.cny", { n: money(average.amount) })} · ${counts}`;
}

function hoursText(hours, method) {
  if (!hours.n) return t("lossreport.none");
  const counts = t("lossreport.claimsN", { n: number(hours.n) });
  const figures = t("lossreport.hoursFigures", { m: decimal(hours.median), a: decimal(hours.mean) });
  return hours.conclusive ? `${figures} · ${counts}` : `${inconclusiveWords(hours, method)} · ${counts}`;
}

export function mount(root) {
  const section = h("section", { class: "ops lossreport", "data-testid": "lossreport" });
  root.append(section);
  const picker = h("select", { id: "lossreport-event", "data-testid": "lossreport-event" });
  const body = h("div", { class: "lossreport-body", "aria-live": "polite" }, h("p", { class: "muted" }, t("common.loading")));
  replace(section,
    h("header", { class: "ops-head" }, h("h1", {}, t("nav.lossreport")), h("p", { class: "muted" }, t("lossreport.lead"))),
    h("div", { class: "ops-filters" }, h("label", { for: "lossreport-event" }, t("lossreport.pick")), picker),
    body);
  let alive = true;
  let chart = null;
  let shown = null;

  picker.addEventListener("change", () => open(picker.value));

  async function loadEvents() {
    try {
      const events = (await get("/v1/cat-events?area=false")).cat_events.filter((e) => e.status !== CatEventStatus.PROPOSED);
      if (!alive) return;
      if (!events.length) {
        replace(picker);
        picker.disabled = true;
        replace(body, h("p", { class: "muted", "data-testid": "lossreport-empty" }, t("lossreport.noEvents")));
        return;
      }
      replace(picker, events.map((e) => h("option", { value: String(e.id) },
        `${e.code} · ${t(`state.${e.status}`)} · ${zonedTime(e.window_start, true)}`)));
      const kept = shown ? String(shown.cat_event.id) : null; // a live update keeps the event being read
      picker.value = events.some((e) => String(e.id) === kept) ? kept : String(events[0].id);
      if (!shown || kept !== picker.value) open(picker.value);
    } catch (error) {
      if (alive) showError(error);
    }
  }

  async function open(id) {
    replace(body, h("p", { class: "muted" }, t("common.loading")));
    try {
      const report = await get(`/v1/cat-events/${encodeURIComponent(id)}/loss-report`);
      if (!alive || picker.value !== id) return;
      shown = report;
      render(report);
    } catch (error) {
      if (alive) showError(error);
    }
  }

  // Kinds with no insured asset inside the area are named once instead of filling rows with nothing.
  function present(report) {
    return report.kinds.filter((row) => row.warned.assets + row.not_warned.assets > 0);
  }

  function absentKinds(report) {
    const absent = report.kinds.filter((row) => row.warned.assets + row.not_warned.assets === 0);
    if (!absent.length) return null;
    const names = absent.map((row) => kindName(row.kind)).join(t("lossreport.listSeparator"));
    return h("p", { class: "muted small", "data-testid": "absent-kinds" }, t("lossreport.absent", { k: names }));
  }

  function groupHead(group) {
    return h("span", { class: `group-mark group-${group}` }, t(`lossreport.group.${group}`));
  }

  function figuresTable(report) {
    const method = report.method;
    const label = (key) => t(`lossreport.col.${key}`);
    const rows = present(report).flatMap((row) => GROUPS.map((group) => {
      const f = row[group];
      const claims = f.claims_per_1000;
      return h("tr", { "data-testid": "figures-row", "data-kind": row.kind, "data-group": group,
        class: claims.conclusive ? "" : "inconclusive" },
      h("th", { scope: "row", "data-label": label("kind") }, kindName(row.kind), h("br"), groupHead(group)),
      h("td", { "data-label": label("assets"), class: "num" }, number(f.assets)),
      h("td", { "data-label": label("rate"), "data-testid": "rate" }, rateText(claims, method)),
      h("td", { "data-label": label("estimate") }, amountText(f.average_estimate, method)),
      h("td", { "data-label": label("paid") }, amountText(f.average_paid, method)),
      h("td", { "data-label": label("reply") }, rateText(f.reply_one_share, method, { perThousand: false })),
      h("td", { "data-label": label("hours") }, hoursText(f.warning_hours, method)));
    }));
    return h("table", { class: "grid ops-table lossreport-table", "data-testid": "figures" },
      h("caption", {}, t("lossreport.tableCaption")),
      h("thead", {}, h("tr", {}, ["kind", "assets", "rate", "estimate", "paid", "reply", "hours"]
        .map((key) => h("th", { scope: "col" }, label(key))))),
      h("tbody", {}, rows));
  }

  function reasonsTable(report) {
    return h("table", { class: "grid ops-table lossreport-reasons", "data-testid": "reasons" },
      h("caption", {}, t("lossreport.reasonsCaption")),
      h("thead", {}, h("tr", {}, ["reason", "customers", "assets"].map((key) => h("th", { scope: "col" }, t(`lossreport.col.${key}`))))),
      h("tbody", {}, report.not_warned_reasons.map((r) => h("tr", { "data-testid": "reason-row", "data-reason": r.reason },
        h("th", { scope: "row", "data-label": t("lossreport.col.reason") }, t(`lossreport.reason.${r.reason}`)),
        h("td", { "data-label": t("lossreport.col.customers"), class: "num" }, number(r.customers)),
        h("td", { "data-label": t("lossreport.col.assets"), class: "num" }, number(r.assets))))));
  }

  // What the chart cannot say on its own: the kinds whose bars are too small a group to read.
  function chartNotes(report) {
    const notes = report.kinds.flatMap((row) => GROUPS
      .filter((group) => row[group].assets > 0 && !row[group].claims_per_1000.conclusive)
      .map((group) => h("li", { "data-testid": "inconclusive-note" },
        t("lossreport.barNote", { k: kindName(row.kind), g: t(`lossreport.group.${group}`),
          w: inconclusiveWords(row[group].claims_per_1000, report.method), n: number(row[group].assets) }))));
    return notes.length ? h("ul", { class: "lossreport-notes" }, notes) : null;
  }

  // The comparison in words, per kind: fewer or more claims among the warned, or no clear difference.
  function differences(report) {
    const items = report.kinds.filter((row) => row.warned.assets > 0 && row.not_warned.assets > 0).map((row) => {
      const gap = row.difference;
      let words;
      if (!gap.conclusive) words = inconclusiveWords(gap, report.method);
      else if (gap.verdict === "fewer" || gap.verdict === "more") {
        const [a, b] = gap.verdict === "fewer" ? [-gap.high_per_1000, -gap.low_per_1000] : [gap.low_per_1000, gap.high_per_1000];
        words = t(`lossreport.diff.${gap.verdict}`, { d: decimal(Math.abs(gap.per_1000)), a: decimal(a), b: decimal(b) });
      } else words = t("lossreport.diff.none", { a: decimal(gap.low_per_1000), b: decimal(gap.high_per_1000) });
      return h("li", { "data-testid": "difference", "data-kind": row.kind }, h("strong", {}, kindName(row.kind)), t("lossreport.colon"), words);
    });
    return items.length
      ? h("section", { class: "lossreport-differences" }, h("h2", {}, t("lossreport.diffTitle")), h("ul", {}, items))
      : null;
  }

  function chartSummary(report) {
    const all = report.kinds[0];
    return t("lossreport.chartSummary", {
      a: rateText(all.warned.claims_per_1000, report.method), b: rateText(all.not_warned.claims_per_1000, report.method) });
  }

  async function drawChart(canvas, report) {
    try {
      const Chart = await loadChartLibrary();
      if (!alive || shown !== report) return;
      chart?.destroy();
      const kinds = present(report);
      // Room above the highest whisker, so no interval is cut off at the top.
      const highest = Math.max(0, ...kinds.flatMap((row) => GROUPS.map((group) => row[group].claims_per_1000.high_per_1000 ?? 0)));
      chart = new Chart(canvas, {
        type: "bar",
        data: {
          labels: kinds.map((row) => kindName(row.kind)),
          datasets: GROUPS.map((group) => ({
            label: t(`lossreport.group.${group}`),
            data: kinds.map((row) => row[group].claims_per_1000.per_1000),
            intervals: kinds.map((row) => [row[group].claims_per_1000.low_per_1000, row[group].claims_per_1000.high_per_1000]),
            backgroundColor: kinds.map((row) => (row[group].claims_per_1000.conclusive ? COLOURS[group] : `${COLOURS[group]}55`)),
            borderColor: COLOURS[group],
            borderWidth: 1,
          })),
        },
        options: {
          animation: false,
          maintainAspectRatio: false,
          locale: locale(),
          scales: { y: { beginAtZero: true, suggestedMax: highest, title: { display: true, text: t("lossreport.axis") } } },
          plugins: {
            tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${rateText(kinds[item.dataIndex][GROUPS[item.datasetIndex]].claims_per_1000, report.method)}` } },
          },
        },
        plugins: [whiskers],
      });
    } catch (error) {
      if (alive) replace(canvas.parentElement, h("p", { class: "muted", "data-testid": "chart-missing" }, t("lossreport.noChart")));
    }
  }

  function render(report) {
    const csv = `/v1/cat-events/${encodeURIComponent(report.cat_event.id)}/loss-report?format=csv`;
    const canvas = h("canvas", { role: "img", "aria-label": chartSummary(report), "data-testid": "lossreport-chart" },
      chartSummary(report));
    replace(body,
      report.synthetic
        ? h("p", { class: "banner warn", role: "note", "data-testid": "synthetic" }, h("span", { "aria-hidden": "true" }, "⚠ "), t("lossreport.synthetic"))
        : null,
      h("p", { class: "lossreport-facts" },
        h("span", { "data-outside": "" }, report.cat_event.code), " · ",
        t("lossreport.window", { a: zonedTime(report.cat_event.window_start, true),
          b: report.cat_event.window_end ? zonedTime(report.cat_event.window_end, true) : t("lossreport.openEnded") }), " · ",
        t("lossreport.warnedBefore", { t: zonedTime(report.method.warned_before, true) })),
      h("div", { class: "lossreport-actions" },
        h("a", { class: "button", href: csv, download: "", "data-testid": "lossreport-csv" }, t("lossreport.csv"))),
      h("figure", { class: "lossreport-figure" },
        h("div", { class: "lossreport-chart" }, canvas),
        h("figcaption", { class: "muted small" }, t("lossreport.chartCaption", { c: wholePercent(report.method.confidence) }))),
      chartNotes(report),
      differences(report),
      h("div", { class: "lossreport-scroll" }, figuresTable(report), absentKinds(report)),
      h("div", { class: "lossreport-scroll" }, reasonsTable(report)),
      report.claims_outside_area
        ? h("p", { class: "muted small" }, t("lossreport.outside", { n: number(report.claims_outside_area) }))
        : null,
      h("p", { class: "muted small" }, t("lossreport.method", { m: number(report.method.min_group),
        w: number(report.method.max_interval_width_per_1000) })));
    drawChart(canvas, report);
  }

  loadEvents();
  return {
    unmount() {
      alive = false;
      chart?.destroy();
    },
    changed(topic) {
      if (topic === "cat_events") loadEvents();
    },
  };
}
