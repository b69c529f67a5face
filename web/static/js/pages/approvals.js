// The approver's inbox: payments above the requester's authority, waiting for this supervisor or manager.
// Each card says whom the money goes to (name, masked phone), which documents the claim holds, and whether
// the ID card and bank account are in. Paying without them takes an override with a reason; rejecting
// takes a reason. Both are asked for in a dialog. Below, manual warnings waiting for a second approver (manual.js).
import { get, post } from "../api.js";
import { t } from "../i18n.js";
import { changeDetector, debounce, h, replace, toast } from "../ui.js";
import { zonedTime } from "../zone.js";
import { cny, documentList, refusalToast, whyChip } from "./queue.js";
import { mountApprovalsPanel } from "./manual.js";
import { askReason } from "./reason.js";

const IDENTITY = ["id", "bank_account"];

export function mount(root) {
  const inbox = h("section", { class: "inbox", "data-testid": "approvals" });
  const warningsInbox = h("section", { class: "inbox manual-inbox", "data-testid": "manual-approvals" });
  root.append(inbox, warningsInbox);
  const warnings = mountApprovalsPanel(warningsInbox);
  const warningsTicker = setInterval(warnings.reload, 30000); // deadlines pass with nothing else happening
  let items = [];
  const changed = changeDetector();

  const reload = debounce(async () => {
    try {
      items = (await get("/v1/console/approvals")).payments;
      if (changed(items)) render();
    } catch (error) {
      refusalToast(error);
    }
  }, 150);

  function missingIdentity(payment) {
    return IDENTITY.filter((kind) => !payment.claim.identity_check[kind]);
  }

  async function send(button, payment, verb, body) {
    button.disabled = true;
    try {
      await post(`/v1/payments/${payment.id}/${verb}`, body);
      toast(t(verb === "approve" ? "approvals.approved" : "approvals.rejected",
        { a: cny(payment.amount), n: payment.claim.customer_name || t("queue.noName") }));
      reload();
    } catch (error) {
      refusalToast(error, { missing: missingIdentity(payment) });
    } finally {
      button.disabled = false;
    }
  }

  async function approve(button, payment) {
    const missing = missingIdentity(payment);
    if (!missing.length) {
      await send(button, payment, "approve", {});
      return;
    }
    const reason = await askReason({
      title: t("approvals.overrideTitle", { a: cny(payment.amount) }),
      lead: t("approvals.overrideLead", { d: documentList(missing) }),
      label: t("approvals.overrideReason"), confirm: t("approvals.overrideConfirm"), testid: "override-dialog",
    });
    if (reason) await send(button, payment, "approve", { override_reason: reason });
  }

  async function reject(button, payment) {
    const reason = await askReason({
      title: t("approvals.rejectTitle", { a: cny(payment.amount) }), lead: t("approvals.rejectLead"),
      label: t("approvals.rejectReason"), confirm: t("approvals.reject"), testid: "reject-dialog", danger: true,
    });
    if (reason) await send(button, payment, "reject", { reason });
  }

  function identityLine(payment) {
    return h("ul", { class: "identity-check", "data-testid": "identity-check" }, IDENTITY.map((kind) => {
      const present = payment.claim.identity_check[kind];
      return h("li", { class: present ? "ok" : "missing", "data-kind": kind },
        h("span", { class: "mark", "aria-hidden": "true" }, present ? "✓" : "✗"), " ",
        t(present ? "approvals.present" : "approvals.absent", { d: t(`doc.${kind}`) }));
    }));
  }

  function documentsLine(claim) {
    const { required, missing } = claim.documents;
    const have = required.filter((kind) => !missing.includes(kind));
    return h("p", { "data-testid": "documents" },
      h("b", {}, t("claim.documents")), " ",
      have.length ? t("approvals.docsIn", { d: documentList(have) }) : t("approvals.noDocs"),
      missing.length ? h("span", { class: "bad" }, ` · ${t("approvals.docsMissing", { d: documentList(missing) })}`) : null);
  }

  function card(payment) {
    const claim = payment.claim;
    const missing = missingIdentity(payment);
    return h("article", { class: `approval card${missing.length ? " unidentified" : ""}`, "data-testid": "approval",
      "data-payment-id": payment.id },
    h("header", {},
      h("h2", {}, t("approvals.line", { k: t(`kind.${payment.kind}`), a: cny(payment.amount), c: claim.id })),
      h("span", { class: "chip warn" }, t("approvals.needs", { r: t(`role.${payment.required_role}`) }))),
    h("p", { "data-testid": "payee" }, h("b", {}, t("approvals.payee")), " ",
      h("span", { "data-outside": "" }, claim.customer_name || t("queue.noName")),
      claim.customer_phone ? ` · ${claim.customer_phone}` : ""),
    identityLine(payment), documentsLine(claim),
    h("p", {}, h("span", { "data-outside": "" }, payment.requester_name), " ",
      t("approvals.byRole", { r: t(`role.${payment.requester_role}`), t: zonedTime(payment.created_at) }),
      payment.reason ? h("span", { class: "muted", "data-outside": "" }, ` · ${payment.reason}`) : null),
    h("p", {}, t("approvals.estimate", { e: cny(claim.estimate), c: cny(claim.advance_cap) }), " ",
      h("a", { href: `#/queue/claim/${claim.id}` }, t("approvals.openClaim", { n: claim.id }))),
    (claim.why_first || []).length ? h("div", {}, claim.why_first.map(whyChip)) : null,
    h("div", { class: "row" },
      h("button", { class: "primary", "data-testid": "approve", onclick: (e) => approve(e.currentTarget, payment) },
        missing.length ? t("approvals.approveOverride") : t("approvals.approve")),
      h("button", { class: "danger", "data-testid": "reject", onclick: (e) => reject(e.currentTarget, payment) },
        t("approvals.rejectEllipsis"))));
  }

  function render() {
    replace(inbox, h("h1", {}, t("approvals.title"), " ", h("span", { class: "badge", "data-testid": "approvals-count" }, items.length)),
      items.length ? items.map(card) : h("p", { class: "muted big-empty" }, t("approvals.empty")));
  }

  reload();
  return {
    changed(topic) {
      if (["payments", "reconnect"].includes(topic)) reload();
      if (["warnings", "manual_warnings", "reconnect"].includes(topic)) warnings.reload();
    },
    unmount() {
      clearInterval(warningsTicker);
    },
  };
}
