// The approver's inbox: payments above the requester's authority, waiting for this supervisor or manager.
import { get, post } from "../api.js";
import { t } from "../i18n.js";
import { ago, busy, changeDetector, debounce, h, keptFields, money, replace, showError, toast } from "../ui.js";

export function mount(root) {
  const inbox = h("section", { class: "inbox", "data-testid": "approvals" });
  root.append(inbox);
  let items = [];
  const notes = keptFields();
  const changed = changeDetector();

  const reload = debounce(async () => {
    try {
      items = (await get("/v1/console/approvals")).payments;
      if (changed(items)) render();
    } catch (error) {
      showError(error);
    }
  }, 150);

  async function decide(button, payment, approve, note) {
    const verb = approve ? "approve" : "reject";
    const done = await busy(button, () => post(`/v1/payments/${payment.id}/${verb}`, { note: note || undefined }));
    if (done) {
      toast(t(approve ? "approvals.approved" : "approvals.rejected", { n: payment.id }));
      reload();
    }
  }

  function card(payment) {
    const note = notes.get(payment.id, () => h("input", { type: "text", placeholder: t("common.note"),
      "data-testid": "decision-note" }));
    const claim = payment.claim;
    return h("article", { class: "approval card", "data-testid": "approval", "data-payment-id": payment.id },
      h("header", {},
        h("h2", {}, t("approvals.line", { k: t(`kind.${payment.kind}`), a: money(payment.amount), c: claim.id })),
        h("span", { class: "chip warn" }, t("approvals.needs", { r: t(`role.${payment.required_role}`) }))),
      h("p", {}, t("approvals.by", { u: payment.requester_name, r: t(`role.${payment.requester_role}`), t: ago(payment.created_at) }),
        payment.reason ? h("span", { class: "muted" }, ` · ${payment.reason}`) : null),
      h("p", {}, t("approvals.estimate", { e: money(claim.estimate), c: money(claim.advance_cap) }),
        claim.cat_code ? h("span", { class: "chip green" }, claim.cat_code) : null, " ",
        h("a", { href: `#/queue/claim/${claim.id}` }, t("claim.title", { n: claim.id }))),
      claim.priority_reasons.length ? h("div", {}, claim.priority_reasons.map((r) => h("span", { class: "chip reason" }, r))) : null,
      h("div", { class: "row" }, note,
        h("button", { class: "primary", "data-testid": "approve", onclick: (e) => decide(e.currentTarget, payment, true, note.value) },
          t("approvals.approve")),
        h("button", { class: "danger", "data-testid": "reject", onclick: (e) => decide(e.currentTarget, payment, false, note.value) },
          t("approvals.reject"))));
  }

  function render() {
    replace(inbox, h("h1", {}, t("approvals.title"), " ", h("span", { class: "badge", "data-testid": "approvals-count" }, items.length)),
      items.length ? items.map(card) : h("p", { class: "muted big-empty" }, t("approvals.empty")));
  }

  reload();
  return {
    changed(topic) {
      if (["payments", "reconnect"].includes(topic)) reload();
    },
  };
}
