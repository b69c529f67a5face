// A modal dialog asking for a reason (rejections, overrides): resolves with the reason, or null when cancelled.
import { t } from "../i18n.js";
import { h } from "../ui.js";

export function askReason({ title, lead, label, confirm, testid, danger, maxLength = 4000 }) {
  return new Promise((resolve) => {
    const field = h("textarea", { id: `${testid}-reason`, rows: "3", maxlength: String(maxLength), "aria-required": "true",
      "data-testid": `${testid}-reason` });
    const problem = h("p", { class: "bad small", role: "alert", "data-testid": `${testid}-problem` });
    const dialog = h("dialog", { class: "confirm reason-dialog", "data-testid": testid, "aria-labelledby": `${testid}-title` });
    const finish = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    const yes = h("button", { type: "submit", class: danger ? "danger" : "primary", "data-testid": `${testid}-confirm` }, confirm);
    const no = h("button", { type: "button", "data-testid": `${testid}-cancel`, onclick: () => finish(null) }, t("approvals.cancel"));
    const form = h("form", { method: "dialog" },
      h("h2", { id: `${testid}-title` }, title), lead ? h("p", {}, lead) : null,
      h("label", { for: `${testid}-reason` }, label), field, problem,
      h("div", { class: "dialog-actions" }, no, yes));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!field.value.trim()) {
        problem.textContent = t("approvals.reasonRequired");
        field.focus();
        return;
      }
      finish(field.value.trim());
    });
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); finish(null); });
    dialog.append(form);
    document.body.append(dialog);
    dialog.showModal();
    field.focus();
  });
}
