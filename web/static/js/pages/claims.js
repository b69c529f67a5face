// The customer's claim page: the six stages with times, missing documents to send, withdraw, the hotline.
import { api, get, post } from "../api.js";
import { t } from "../i18n.js";
import { busy, changeDetector, confirmButton, debounce, h, keptFields, money, replace, showError, time, toast } from "../ui.js";

function statusText(claim) {
  if (claim.stage === "assessed") {
    return t(claim.documents.missing.length ? "customer.status.waitingDocs" : "customer.status.docsIn");
  }
  return t(`customer.status.${claim.stage}`);
}

function stages(claim) {
  return h("ol", { class: "customer-stages", "data-testid": "customer-stages" }, claim.stages.map((step) =>
    h("li", { class: `${step.reached_at ? "done" : "todo"}${step.current ? " current" : ""}`, "data-stage": step.stage,
      "aria-current": step.current ? "step" : null },
    h("span", { class: "mark", "aria-hidden": "true" }, step.current ? "●" : step.reached_at ? "✓" : "○"),
    h("span", { class: "name" }, t(`stage.${step.stage}`)),
    h("span", { class: "when" }, step.reached_at ? time(step.reached_at, true) : ""))));
}

export function mount(root, { me, args }) {
  const page = h("div", { class: "customer", "data-testid": "customer-page" });
  root.append(page);
  let claimId = null;
  let claims = [];
  let claim = null;
  const files = keptFields();
  const changed = changeDetector();

  const reload = debounce(async () => {
    try {
      claims = (await get("/v1/claims?limit=50")).claims;
      const shown = claimId ?? (claims.length === 1 ? claims[0].id : null);
      claim = shown ? await get(`/v1/claims/${shown}`) : null;
      if (changed([claims, claim])) render();
    } catch (error) {
      showError(error);
    }
  }, 150);

  function hotline() {
    return h("aside", { class: "hotline", "data-testid": "hotline" }, t("customer.hotline"), " ",
      h("a", { href: `tel:${me.hotline.replace(/[^\d+]/g, "")}` }, me.hotline));
  }

  function missingDocuments() {
    if (!claim.documents.missing.length) return h("p", { class: "all-docs" }, t("customer.allDocs"));
    return h("ul", { class: "upload-list" }, claim.documents.missing.map((kind) => {
      const input = files.get(kind, () => h("input", { type: "file", "data-testid": `file-${kind}`,
        "aria-label": t(`doc.${kind}`), accept: "image/*,application/pdf" }));
      const send = h("button", { class: "primary", "data-testid": `upload-${kind}` }, t("customer.upload"));
      send.addEventListener("click", async () => {
        if (!input.files.length) return input.click();
        const form = new FormData();
        form.append("kind", kind);
        form.append("file", input.files[0]);
        if (await busy(send, () => api("POST", `/v1/claims/${claim.id}/documents`, form))) {
          files.forget(kind);
          toast(t("customer.uploaded", { d: t(`doc.${kind}`) }));
          reload();
        }
        return undefined;
      });
      return h("li", { "data-testid": "missing-document", "data-kind": kind },
        h("span", { class: "doc-name" }, t(`doc.${kind}`)), input, send);
    }));
  }

  function claimView() {
    const open = !["closed_paid", "withdrawn", "rejected"].includes(claim.stage);
    const withdraw = open ? confirmButton(t("customer.withdraw"), { class: "danger", "data-testid": "withdraw" }, async () => {
      await post(`/v1/claims/${claim.id}/withdraw`, { reason: "withdrawn by the customer in the app" });
      toast(t("customer.withdrawn"));
      reload();
    }) : null;
    const rescue = claim.rescue;
    return h("article", { class: "claim card", "data-testid": "customer-claim", "data-claim-id": claim.id,
      "data-stage": claim.stage },
    h("h1", {}, t("customer.claim", { n: claim.id })),
    h("p", { class: "status", "data-testid": "claim-status" }, statusText(claim)),
    h("p", { class: "muted" }, t("customer.filed", { t: time(claim.filed_at, true) }),
      claim.cat_code ? h("span", { class: "chip green" }, claim.cat_code) : null),
    rescue ? h("p", { class: "rescue" }, t("customer.rescueOn", { s: t(`state.${rescue.state}`) }),
      rescue.provider ? ` · ${rescue.provider}` : "",
      rescue.eta_minutes && ["accepted", "en_route"].includes(rescue.state) ? ` · ${t("customer.etaMin", { n: rescue.eta_minutes })}` : "")
      : null,
    h("h2", {}, t("customer.stages")), stages(claim),
    ["withdrawn", "rejected"].includes(claim.stage)
      ? h("p", { class: "closed-as" }, t(`stage.${claim.stage}`), claim.closed_as ? ` · ${time(claim.closed_as.at, true)}` : "")
      : null,
    Number(claim.advance_paid) > 0 ? h("p", { class: "advance" }, t("customer.advance", { a: money(claim.advance_paid) })) : null,
    open ? [h("h2", {}, t("customer.missing")), missingDocuments()] : null,
    claim.documents.uploaded.length ? [h("h2", {}, t("customer.sent")), h("ul", { class: "sent" },
      claim.documents.uploaded.map((d) => h("li", {}, `${t(`doc.${d.kind}`)} · ${d.filename} · ${t(`doc.${d.status}`)}`)))] : null,
    withdraw ? h("div", { class: "withdraw" }, withdraw) : null);
  }

  function render() {
    const list = claims.length > 1
      ? h("nav", { class: "claim-list" }, claims.map((c) => h("a", {
        href: `#/claims/${c.id}`, class: claim && claim.id === c.id ? "active" : "", "data-testid": "claim-link",
      }, `${t("customer.claim", { n: c.id })} · ${t(`stage.${c.stage}`)}`)))
      : null;
    replace(page, hotline(), list, claim ? claimView()
      : claims.length ? null : h("p", { class: "big-empty" }, t("customer.noClaims")));
  }

  function navigate(rest) {
    claimId = /^\d+$/.test(rest[0] || "") ? Number(rest[0]) : null;
    reload();
  }

  navigate(args);
  return {
    navigate,
    changed(topic) {
      if (["claim", "reconnect"].includes(topic)) reload();
    },
  };
}
