// Manual warnings (docs/architecture.md, "Manual warnings"): a warning a person uploads is held with its
// reach. The map shows the preview (customers, assets, channels, area) with Send, or Ask for approval when
// a second person must approve; the approvals page lists those waiting, to approve or reject with a reason.
// Headlines and area names come from outside: always text nodes, marked data-outside.
import { get, post } from "../api.js";
import { lang, t } from "../i18n.js";
import { h, number, replace, toast } from "../ui.js";
import { zonedTime } from "../zone.js";
import { ManualWarningState } from "../states.js";
import { askReason } from "./reason.js";

export const AREA_STYLE = { color: "#6a1b9a", weight: 2, dashArray: "6 4", fillOpacity: 0.12 };
const ASSET_KINDS = ["vehicle", "home", "shop", "factory"];

// A bilingual warning carries one entry per language: the reader's, else the first.
function inReadersLanguage(byLanguage) {
  const entries = Object.entries(byLanguage || {});
  const wanted = lang().slice(0, 2).toLowerCase();
  const match = entries.find(([language]) => language.toLowerCase().startsWith(wanted));
  return (match || entries[0] || [])[1];
}

export function headline(warning) {
  return inReadersLanguage(warning.summary.headlines) || warning.summary.event || t("manual.untitled");
}

function notWarnedText(reason) {
  if (!reason) return null;
  if (reason.startsWith("status_")) return t("manual.why.notActual");
  return t(["below_threshold", "expired"].includes(reason) ? `manual.why.${reason}` : "manual.why.other");
}

function areaNames(area) {
  return inReadersLanguage(area.descriptions_by_language) || area.descriptions || [];
}

export function reachBlock(reach) {
  const kinds = Object.entries(reach.assets_by_kind || {}).map(([kind, n]) =>
    `${t(`asset.${ASSET_KINDS.includes(kind) ? kind : "other"}`)} ${number(n)}`).join(" · ");
  const area = reach.area || {};
  const why = notWarnedText(reach.not_warned_because);
  return h("div", { class: "manual-reach", "data-testid": "manual-reach" },
    h("p", { class: "manual-figures" },
      h("b", { "data-testid": "reach-customers" }, t("manual.customers", { n: number(reach.customers) })), " · ",
      h("span", { "data-testid": "reach-assets" }, t("manual.assets", { n: number(reach.assets) })),
      kinds ? h("span", { class: "muted" }, ` (${kinds})`) : null),
    h("ul", { class: "manual-channels" },
      h("li", { "data-testid": "reach-sms" }, t("manual.sms", { n: number(reach.sms) })),
      h("li", { "data-testid": "reach-push" }, t("manual.push", { n: number(reach.push) })),
      h("li", { "data-testid": "reach-none" }, t("manual.none", { n: number(reach.no_channel) }),
        reach.sms_opted_out || reach.no_phone
          ? h("span", { class: "muted" }, ` ${t("manual.noneWhy", { o: number(reach.sms_opted_out), p: number(reach.no_phone) })}`)
          : null)),
    why ? h("p", { class: "bad", "data-testid": "reach-why" }, t("manual.nobody", { r: why })) : null,
    h("p", { class: "muted", "data-testid": "reach-area" }, t("manual.area", { k: number(area.km2 || 0) }),
      areaNames(area).length ? [" · ", h("span", { "data-outside": "" }, areaNames(area).slice(0, 5).join(lang().startsWith("zh") ? "、" : "; "))] : null));
}

function refusalText(error) {
  const known = ["own_warning", "approval_required", "already_released", "already_rejected", "already_expired",
    "not_submitter", "forbidden"];
  return known.includes(error.code) ? t(`manual.refused.${error.code}`) : t("manual.refused.other");
}

export function refusalToast(error) {
  toast(refusalText(error), "error");
}

// The preview of a held warning on the map's side panel: its reach, then Send (the submitter's own, small)
// or Ask for approval (above the setting), and Discard.
export function previewBlock(warning, { onDone }) {
  const approval = warning.state === ManualWarningState.AWAITING_APPROVAL;
  const act = async (button, action) => {
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      refusalToast(error);
    } finally {
      button.disabled = false;
    }
  };
  const send = h("button", { class: "primary", "data-testid": "manual-send", onclick: (event) => act(event.currentTarget, async () => {
    const sent = await post(`/v1/manual-warnings/${warning.id}/confirm`);
    toast(sent.state === ManualWarningState.RELEASED ? t("manual.sent", { n: number(sent.reach.warned) }) : t("manual.nowWaiting"));
    onDone();
  }) }, t("manual.send"));
  const ask = h("button", { class: "primary", "data-testid": "manual-ask", onclick: () => {
    toast(t("manual.nowWaiting"));
    onDone();
  } }, t("manual.askApproval"));
  const discard = h("button", { "data-testid": "manual-discard", onclick: (event) => act(event.currentTarget, async () => {
    await post(`/v1/manual-warnings/${warning.id}/reject`, { reason: t("manual.withdrawn") });
    toast(t("manual.discarded"));
    onDone();
  }) }, t("manual.discard"));
  return h("section", { class: "manual-preview card", "data-testid": "manual-preview", "data-state": warning.state },
    h("h2", {}, t("manual.previewTitle")),
    h("p", {}, h("b", { "data-outside": "", "data-testid": "manual-headline" }, headline(warning))),
    reachBlock(warning.reach),
    approval ? h("p", { class: "manual-needs", "data-testid": "manual-needs-approval" }, t("manual.needsApproval")) : null,
    h("p", { class: "muted" }, t("manual.waitUntil", { t: zonedTime(warning.wait_until) })),
    h("div", { class: "row" }, approval ? ask : send, discard));
}

// The submitter's own warnings still waiting for a second approver.
export function myWaitingBlock(warnings) {
  const mine = warnings.filter((w) => w.mine && w.state === ManualWarningState.AWAITING_APPROVAL);
  if (!mine.length) return null;
  return h("section", { class: "manual-mine", "data-testid": "manual-mine" }, h("h3", {}, t("manual.myWaiting")),
    h("ul", {}, mine.map((w) => h("li", { "data-testid": "manual-mine-item" },
      h("span", { "data-outside": "" }, headline(w)), " · ", t("manual.customers", { n: number(w.reach.warned) }), " · ",
      h("span", { class: "muted" }, t("manual.waitUntil", { t: zonedTime(w.wait_until) }))))));
}

function miniMap(warning) {
  const element = h("div", { class: "manual-map", role: "img", "aria-label": t("manual.mapLabel") });
  requestAnimationFrame(async () => {
    if (!window.L || !element.isConnected) return;
    try {
      const detail = await get(`/v1/manual-warnings/${warning.id}`);
      if (!detail.area || !element.isConnected) return;
      const map = window.L.map(element, { attributionControl: false, zoomControl: false, dragging: false,
        scrollWheelZoom: false, keyboard: false });
      const layer = window.L.geoJSON(detail.area, { style: AREA_STYLE }).addTo(map);
      map.fitBounds(layer.getBounds(), { padding: [8, 8] });
    } catch (error) {
      element.replaceChildren(h("p", { class: "muted" }, t("manual.noArea")));
    }
  });
  return element;
}

// The approvers' panel: warnings waiting for a second person, each with its reach and area.
export function mountApprovalsPanel(section) {
  let warnings = [];

  async function reload() {
    try {
      warnings = (await get(`/v1/manual-warnings?state=${ManualWarningState.AWAITING_APPROVAL}`)).warnings;
      render();
    } catch (error) {
      refusalToast(error);
    }
  }

  async function approve(button, warning) {
    button.disabled = true;
    try {
      await post(`/v1/manual-warnings/${warning.id}/approve`);
      toast(t("manual.approved", { n: number(warning.reach.warned) }));
    } catch (error) {
      refusalToast(error);
    } finally {
      button.disabled = false;
      reload();
    }
  }

  async function reject(button, warning) {
    const reason = await askReason({ title: t("manual.rejectTitle"), lead: t("manual.rejectLead"),
      label: t("manual.rejectReason"), confirm: t("manual.reject"), testid: "manual-reject-dialog", danger: true,
      maxLength: 2000 });
    if (!reason) return;
    button.disabled = true;
    try {
      await post(`/v1/manual-warnings/${warning.id}/reject`, { reason });
      toast(t("manual.rejected"));
    } catch (error) {
      refusalToast(error);
    } finally {
      button.disabled = false;
      reload();
    }
  }

  function card(warning) {
    return h("article", { class: "approval card manual-card", "data-testid": "manual-approval", "data-mine": String(warning.mine) },
      h("header", {}, h("h3", { "data-outside": "", "data-testid": "manual-headline" }, headline(warning)),
        warning.summary.severity ? h("span", { class: "chip warn" }, t(`sev.${warning.summary.severity}`)) : null),
      h("p", {}, t("manual.by"), " ", h("span", { "data-outside": "" }, warning.submitted_by || ""), " · ",
        zonedTime(warning.submitted_at), " · ",
        h("span", { class: "muted" }, t("manual.waitUntil", { t: zonedTime(warning.wait_until) }))),
      reachBlock(warning.reach), miniMap(warning),
      warning.mine
        ? h("p", { class: "muted", "data-testid": "manual-own" }, t("manual.own"))
        : h("div", { class: "row" },
          h("button", { class: "primary", "data-testid": "manual-approve", onclick: (e) => approve(e.currentTarget, warning) },
            t("manual.approve")),
          h("button", { class: "danger", "data-testid": "manual-reject", onclick: (e) => reject(e.currentTarget, warning) },
            t("manual.rejectEllipsis"))));
  }

  function render() {
    replace(section, h("h2", {}, t("manual.title"), " ",
      h("span", { class: "badge", "data-testid": "manual-count" }, warnings.length)),
    warnings.length ? warnings.map(card) : h("p", { class: "muted" }, t("manual.empty")));
  }

  reload();
  return { reload };
}
