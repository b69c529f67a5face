// The customer's pages, phone first: their claims with the six stages in plain words, documents sent in one
// step, rescue followed live, a call, a complaint, a withdrawal; and the forms to report a loss or ask for
// rescue (pages/report.js). Nothing here shows a code or an id: claims are named by what was insured.
import { get, post } from "../api.js";
import { lang, t } from "../i18n.js";
import { ClaimStage, ComplaintState, JobState, OPEN_STAGES, STAGES } from "../states.js";
import { changeDetector, h, money, replace, time } from "../ui.js";
import { mountReport, mountRescue } from "./report.js";
import { showCustomerProblem, uploader } from "./upload.js";

const OPEN = new Set(OPEN_STAGES);
const POLL_MS = 10_000;

export function assetKind(asset) {
  return ["vehicle", "home", "shop", "factory"].includes(asset?.kind) ? asset.kind : "other";
}

function day(iso) {
  return new Date(iso).toLocaleString(lang() === "zh-CN" ? "zh-CN" : "en-GB",
    { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function claimTitle(claim, assets) {
  const asset = assets.find((a) => a.asset_id === claim.asset_id);
  return asset ? t("customer.claimFor", { a: t(`asset.${assetKind(asset)}`) }) : t("customer.claimPlain");
}

function stageList(claim) {
  const current = STAGES.indexOf(claim.stage);
  return h("ol", { class: "customer-stages", "data-testid": "customer-stages" }, claim.stages.map((step, index) => {
    const isCurrent = step.stage === claim.stage;
    const detail = isCurrent ? h("dl", { class: "stage-detail", "data-testid": "stage-detail" },
      h("dt", {}, t("customer.now")), h("dd", {}, t(`cstage.${step.stage}.now`)),
      step.stage !== ClaimStage.CLOSED_PAID ? [h("dt", {}, t("customer.next")), h("dd", {}, t(`cstage.${step.stage}.next`)),
        h("dt", {}, t("customer.usually")), h("dd", {}, t(`cstage.${step.stage}.time`))] : null) : null;
    const state = isCurrent ? "current" : step.reached_at || index < current ? "done" : "todo";
    return h("li", { class: state, "data-stage": step.stage, "aria-current": isCurrent ? "step" : null },
      h("span", { class: "mark", "aria-hidden": "true" }, state === "done" ? "✓" : String(index + 1)),
      h("div", { class: "stage-text" },
        h("span", { class: "name" }, t(`cstage.${step.stage}`)),
        step.reached_at ? h("span", { class: "when" }, day(step.reached_at)) : null,
        !step.reached_at && !isCurrent && index > 0
          ? h("span", { class: "when" }, t(`cstage.${STAGES[index - 1]}.time`)) : null,
        detail));
  }));
}

// Loss valued, and every document already in: the customer waits for us, not we for them.
function statusText(claim) {
  if (claim.stage === ClaimStage.ASSESSED && !claim.documents.missing.length) return t("customer.status.docsIn");
  return t(`cstage.${claim.stage}.now`);
}

function rescueState(rescue) {
  if (!rescue) return null;
  const eta = rescue.eta_minutes && [JobState.ACCEPTED, JobState.EN_ROUTE].includes(rescue.state)
    ? t("rstate.eta", { n: rescue.eta_minutes }) : null;
  return h("section", { class: `rescue-state state-${rescue.state}`, "data-testid": "rescue-state",
    "data-state": rescue.state, "aria-labelledby": "rescue-heading" },
  h("h2", { id: "rescue-heading" }, t("rescue.heading")),
  h("p", { class: "big", role: "status" }, t(`rstate.${rescue.state}`), eta ? [" ", h("b", {}, eta)] : null),
  rescue.provider ? h("p", {}, rescue.provider) : null);
}

export function mount(root, { me, args }) {
  const page = h("div", { class: "customer", "data-testid": "customer-page" });
  const announcer = h("p", { class: "visually-hidden", "aria-live": "polite", "data-testid": "stage-announcer" });
  root.append(page, announcer);
  const changed = changeDetector();
  const uploads = new Map();
  let settings = { hotline: me.hotline, upload_limit_bytes: 5 * 1024 * 1024, upload_types: [] };
  let assets = [];
  let claims = [];
  let claim = null;
  let claimId = null;
  let view = "claims";
  let complaint = null; // the complaint just sent: its answer clock is shown
  let complaints = []; // all of this customer's complaints, each with our answer once given
  let lastAnnounced = null;
  let form = null;
  let timer = null;

  async function loadOnce() {
    [settings, assets] = await Promise.all([get("/v1/customer/settings"),
      get("/v1/customer/assets").then((answer) => answer.assets)]);
  }
  const ready = loadOnce().catch(showCustomerProblem);

  async function reload() {
    if (view !== "claims") return;
    try {
      await ready;
      claims = (await get("/v1/claims?limit=50")).claims;
      const chosen = claimId ?? (claims.find((c) => OPEN.has(c.stage)) || claims[0])?.id;
      [claim, complaints] = await Promise.all([chosen ? get(`/v1/claims/${chosen}`) : null,
        get("/v1/customer/complaints").then((answer) => answer.complaints)]);
      if (changed([claims, claim, lang(), complaint, complaints])) render();
    } catch (error) {
      showCustomerProblem(error);
    }
  }

  function announce() {
    if (!claim) return;
    const position = STAGES.indexOf(claim.stage);
    const text = position >= 0 ? t("customer.stepOf", { n: position + 1, s: t(`cstage.${claim.stage}`) })
      : t(`cstage.${claim.stage}`);
    const key = `${claim.id}:${claim.stage}:${lang()}`;
    if (key !== lastAnnounced) {
      lastAnnounced = key;
      announcer.textContent = text;
    }
  }

  function upload(kind) {
    const key = `${claim.id}:${kind}`;
    if (!uploads.has(key)) {
      uploads.set(key, uploader({ claimId: claim.id, kind, settings,
        label: t("upload.choose", { d: t(`doc.${kind}`) }), onDone: () => reload() }));
    }
    return uploads.get(key).element;
  }

  function documents() {
    const missing = claim.documents.missing;
    return h("section", { class: "documents", "aria-labelledby": "docs-heading" },
      h("h2", { id: "docs-heading" }, t("customer.missing")),
      missing.length ? h("ul", { class: "upload-list" }, missing.map((kind) => h("li", {
        "data-testid": "missing-document", "data-kind": kind }, h("span", { class: "doc-name" }, t(`doc.${kind}`)),
      upload(kind))))
        : h("p", { class: "all-docs" }, t("customer.allDocs")),
      claim.documents.uploaded.length ? [h("h3", {}, t("customer.sent")), h("ul", { class: "sent" },
        claim.documents.uploaded.map((d) => h("li", {}, `${t(`doc.${d.kind}`)} · ${d.filename} · `,
          t(`customer.docStatus.${d.status}`))))] : null);
  }

  function withdrawDialog() {
    const dialog = h("dialog", { class: "confirm", "data-testid": "withdraw-dialog", "aria-labelledby": "withdraw-q" },
      h("h2", { id: "withdraw-q" }, t("withdraw.question")), h("p", {}, t("withdraw.explain")));
    const keep = h("button", { type: "button", class: "big", "data-testid": "withdraw-keep",
      onclick: () => dialog.close() }, t("withdraw.keep"));
    const yes = h("button", { type: "button", class: "danger big", "data-testid": "withdraw-confirm" }, t("withdraw.yes"));
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      try {
        await post(`/v1/claims/${claim.id}/withdraw`, { reason: "withdrawn by the customer on their page" });
        dialog.close();
        reload();
      } catch (error) {
        showCustomerProblem(error);
      } finally {
        yes.disabled = false;
      }
    });
    dialog.append(h("div", { class: "dialog-actions" }, keep, yes));
    return dialog;
  }

  function complaintBox() {
    if (complaint) {
      return h("p", { class: "complaint-done", role: "status", "data-testid": "complaint-done" },
        t("complain.done", { t: time(complaint.answer_due_at, true) }));
    }
    const text = h("textarea", { id: "complaint-text", rows: 3, maxlength: 1000, "data-testid": "complaint-text" });
    const error = h("p", { class: "error", role: "alert" });
    const send = h("button", { type: "submit", class: "primary big", "data-testid": "complaint-send" }, t("complain.send"));
    const box = h("form", { class: "complaint card", hidden: true, "data-testid": "complaint-form" },
      h("h2", {}, t("complain.title")), h("label", { for: "complaint-text" }, t("complain.label")), text, error,
      h("div", { class: "row" }, send, h("button", { type: "button", class: "big", onclick: () => { box.hidden = true; } },
        t("common.cancel"))));
    box.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!text.value.trim()) {
        error.textContent = t("complain.empty");
        return;
      }
      send.disabled = true;
      try {
        complaint = await post("/v1/customer/complaints", { text: text.value.trim(), claim_id: claim?.id ?? null });
        render();
        reload();
      } catch (failure) {
        showCustomerProblem(failure);
      } finally {
        send.disabled = false;
      }
    });
    return box;
  }

  // What the customer complained of and our answer, in their words and ours, never as markup.
  function myComplaints() {
    if (!complaints.length) return null;
    return h("section", { class: "my-complaints", "aria-labelledby": "complaints-heading", "data-testid": "my-complaints" },
      h("h2", { id: "complaints-heading" }, t("complain.mine")),
      h("ul", {}, complaints.map((c) => h("li", { "data-testid": "my-complaint", "data-state": c.state },
        h("p", { class: "small" }, t("complain.youWrote", { t: day(c.created_at) })), h("p", { class: "quoted" }, c.text),
        c.state === ComplaintState.ANSWERED
          ? [h("p", { class: "small" }, t("complain.answer", { t: day(c.answered_at) })),
            h("p", { class: "quoted answer", "data-testid": "complaint-answer" }, c.answer)]
          : h("p", { class: "small" }, t("complain.waiting", { t: day(c.answer_due_at) }))))));
  }

  // The adjuster holding the claim when they have a work number, else the hotline.
  function callLink() {
    const adjuster = claim && OPEN.has(claim.stage) ? claim.adjuster : null;
    const number = adjuster ? adjuster.phone : settings.hotline || me.hotline;
    return h("a", { class: "action call", href: `tel:${number.replace(/[^\d+]/g, "")}`, "data-testid": "action-call",
      "data-calls": adjuster ? "adjuster" : "hotline" },
    adjuster ? t("action.callAdjuster", { n: adjuster.name }) : t("action.call", { n: number }));
  }

  function actions() {
    const complaintForm = complaintBox();
    const open = claim && OPEN.has(claim.stage);
    const dialog = open ? withdrawDialog() : null;
    return h("section", { class: "actions", "aria-labelledby": "actions-heading" },
      h("h2", { id: "actions-heading" }, t("customer.actions")),
      h("div", { class: "action-grid" },
        h("a", { class: "action report", href: "#/claims/report", "data-testid": "action-report" }, t("action.report")),
        h("a", { class: "action rescue", href: "#/claims/rescue", "data-testid": "action-rescue" }, t("action.rescue")),
        callLink(),
        complaint ? null : h("button", { type: "button", class: "action complain", "data-testid": "action-complain",
          onclick: () => { complaintForm.hidden = false; complaintForm.querySelector("textarea").focus(); } },
        t("action.complain"))),
      complaintForm,
      myComplaints(),
      open ? h("button", { type: "button", class: "danger withdraw-button", "data-testid": "withdraw",
        onclick: () => dialog.showModal() }, t("action.withdraw")) : null,
      dialog);
  }

  function claimView() {
    return h("article", { class: "claim", "data-testid": "customer-claim", "data-stage": claim.stage,
      "data-claim-id": claim.id },
      h("h1", {}, claimTitle(claim, assets)),
      h("p", { class: "muted" }, t("customer.reportedOn", { t: day(claim.filed_at) })),
      claim.fast_track ? h("p", { class: "green-note", "data-testid": "green-channel" }, t("customer.green")) : null,
      rescueState(claim.rescue),
      OPEN.has(claim.stage) || claim.stage === ClaimStage.CLOSED_PAID
        ? [h("p", { class: "status", "data-testid": "claim-status" }, statusText(claim)), stageList(claim)]
        : h("p", { class: "status closed-as", "data-testid": "claim-status" }, t(`cstage.${claim.stage}`)),
      Number(claim.advance_paid) > 0 ? h("p", { class: "advance" }, t("customer.advance", { a: money(claim.advance_paid) }))
        : null,
      OPEN.has(claim.stage) ? documents() : null);
  }

  function claimLinks() {
    if (claims.length < 2) return null;
    return h("nav", { class: "claim-list", "aria-label": t("customer.myClaims") }, claims.map((c) => h("a", {
      href: `#/claims/${c.id}`, class: claim && claim.id === c.id ? "active" : "", "data-testid": "claim-link",
      "aria-current": claim && claim.id === c.id ? "page" : null,
    }, h("span", {}, claimTitle(c, assets)), h("span", { class: "small" }, `${t(`cstage.${c.stage}`)} · ${day(c.filed_at)}`))));
  }

  function render() {
    replace(page, claimLinks(), claim ? claimView() : h("p", { class: "big-empty" }, t("customer.noClaims")), actions());
    announce();
  }

  function showForm(kind) {
    clearInterval(timer);
    form?.unmount?.();
    const done = (filed) => {
      claimId = filed?.id ?? claimId;
      location.hash = filed ? `#/claims/${filed.id}` : "#/claims";
    };
    ready.then(() => {
      const mountForm = kind === "report" ? mountReport : mountRescue;
      form = mountForm(page, { assets, claims, settings, done });
    });
  }

  function navigate(rest) {
    form?.unmount?.();
    form = null;
    if (rest[0] === "report" || rest[0] === "rescue") {
      view = rest[0];
      get("/v1/claims?limit=50").then((answer) => { claims = answer.claims; showForm(rest[0]); }).catch(showCustomerProblem);
      return;
    }
    view = "claims";
    claimId = /^\d+$/.test(rest[0] || "") ? Number(rest[0]) : null;
    changed(null);
    reload();
    clearInterval(timer);
    timer = setInterval(reload, POLL_MS);
  }

  navigate(args);
  return {
    navigate,
    changed(topic) {
      if (["claim", "rescue", "reconnect"].includes(topic)) reload();
    },
    unmount() {
      clearInterval(timer);
      form?.unmount?.();
    },
  };
}
