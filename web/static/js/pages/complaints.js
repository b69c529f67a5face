// Complaints (supervisors, managers): open ones first, the nearest to its 24-hour answer clock first, overdue
// ones marked; each with the customer's masked phone, the claim it is about in words, the customer's own
// text (shown as text, never markup) and a form whose answer goes to the customer by SMS. One answer each:
// the server keeps the first and sends one SMS, whoever clicks twice.
import { get, post } from "../api.js";
import { t } from "../i18n.js";
import { ComplaintState } from "../states.js";
import { changeDetector, debounce, duration, h, keptFields, replace, serverNow, toast } from "../ui.js";
import { zonedTime } from "../zone.js";
import { refusalToast } from "./queue.js";

const ANSWER_MAX = 500;
const CLOCK_MS = 30_000; // the countdowns move by the minute: their chips are redrawn every half minute
const SOON_S = 4 * 3600;

export function mount(root) {
  const page = h("section", { class: "complaints-page", "data-testid": "complaints" });
  root.append(page);
  const changed = changeDetector();
  const fields = keptFields(); // the answer being typed survives a live redraw
  const clocks = new Map(); // complaint id -> its clock chip, redrawn in place
  let complaints = [];
  let showAnswered = false;
  let loaded = false;

  const reload = debounce(async () => {
    try {
      complaints = (await get(`/v1/complaints?open=${showAnswered ? "false" : "true"}&limit=200`)).complaints;
      loaded = true;
      if (changed([complaints, showAnswered])) render();
    } catch (error) {
      refusalToast(error);
    }
  }, 150);

  function open(complaint) {
    return complaint.state === ComplaintState.OPEN;
  }

  function clockChip(complaint) {
    if (!open(complaint)) return h("span", { class: "chip green", "data-testid": "complaint-clock" }, t("complaints.answered"));
    const left = (Date.parse(complaint.answer_due_at) - serverNow()) / 1000;
    if (left <= 0 || complaint.overdue) {
      return h("span", { class: "chip danger", "data-testid": "complaint-clock" },
        t("complaints.overdue", { n: duration(-left) }));
    }
    return h("span", { class: `chip ${left < SOON_S ? "warn" : "stage"}`, "data-testid": "complaint-clock" },
      t("complaints.dueIn", { n: duration(left) }));
  }

  function about(complaint) {
    if (!complaint.claim) return t("complaints.noClaim");
    const kind = complaint.claim.asset_kind || "other";
    return t("complaints.about", { a: t(`asset.${["vehicle", "home", "shop", "factory"].includes(kind) ? kind : "other"}`),
      s: t(`stage.${complaint.claim.stage}`) });
  }

  function answerForm(complaint) {
    const id = `answer-${complaint.id}`;
    const field = fields.get(id, () => h("textarea", { id, rows: "3", maxlength: String(ANSWER_MAX),
      "aria-required": "true", "data-testid": "answer-text" }));
    const problem = h("p", { class: "bad small", role: "alert", "data-testid": "answer-problem" });
    const send = h("button", { type: "submit", class: "primary", "data-testid": "answer-send" }, t("complaints.send"));
    const form = h("form", { class: "answer-form", "data-testid": "answer-form" },
      h("label", { for: id }, t("complaints.answerLabel")), field, problem, h("div", { class: "row" }, send));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const answer = field.value.trim();
      if (!answer) {
        problem.textContent = t("complaints.empty");
        field.focus();
        return;
      }
      send.disabled = true;
      try {
        const answered = await post(`/v1/complaints/${complaint.id}/answer`, { answer });
        fields.forget(id);
        toast(t(answered.sms_saved ? "complaints.sent" : "complaints.savedNoSms"));
        reload();
      } catch (error) {
        if (error.field === "answer") problem.textContent = t("complaints.tooLong", { n: ANSWER_MAX });
        else refusalToast(error);
        reload();
      } finally {
        send.disabled = false;
      }
    });
    return form;
  }

  function answered(complaint) {
    return h("div", { class: "complaint-answer", "data-testid": "complaint-answer" },
      h("p", { class: "muted" }, t("complaints.answeredBy", { t: zonedTime(complaint.answered_at) }), " ",
        h("span", { "data-outside": "" }, complaint.answered_by_name || "")),
      h("p", { class: "quoted", "data-outside": "" }, complaint.answer || ""));
  }

  function card(complaint) {
    clocks.set(complaint.id, clockChip(complaint));
    const late = open(complaint) && (complaint.overdue || Date.parse(complaint.answer_due_at) <= serverNow());
    return h("article", { class: `complaint-card card${late ? " overdue" : ""}${open(complaint) ? "" : " done"}`,
      "data-testid": "complaint", "data-state": complaint.state, "data-overdue": String(late) },
    h("header", {}, h("h2", {}, about(complaint)), clocks.get(complaint.id)),
    h("p", { class: "muted" }, t("complaints.filed", { t: zonedTime(complaint.created_at) }),
      complaint.customer_phone ? [" · ", t("complaints.phone"), " ",
        h("span", { class: "phone", "data-testid": "complaint-phone" }, complaint.customer_phone)] : null),
    h("p", { class: "quoted complaint-text", "data-testid": "complaint-text", "data-outside": "" }, complaint.text),
    complaint.claim_id ? h("p", {}, h("a", { href: `#/queue/claim/${complaint.claim_id}` }, t("complaints.openClaim")))
      : null,
    open(complaint) ? answerForm(complaint) : answered(complaint));
  }

  function redrawClocks() {
    for (const complaint of complaints) {
      const chip = clocks.get(complaint.id);
      if (!chip) continue;
      const fresh = clockChip(complaint);
      chip.replaceWith(fresh);
      clocks.set(complaint.id, fresh);
    }
  }

  function render() {
    const typing = page.contains(document.activeElement) ? document.activeElement : null;
    clocks.clear();
    const waiting = complaints.filter(open).length;
    const toggle = fields.get("show-answered", () => h("input", { type: "checkbox", id: "complaints-answered",
      "data-testid": "show-answered", onchange: (event) => { showAnswered = event.target.checked; reload(); } }));
    replace(page,
      h("h1", {}, t("complaints.title"), " ", h("span", { class: "badge", "data-testid": "complaints-open" }, waiting)),
      h("p", { class: "muted" }, t("complaints.lead")),
      h("p", { class: "row" }, toggle, h("label", { for: "complaints-answered" }, t("complaints.showAnswered"))),
      !loaded ? h("p", { class: "muted" }, t("common.loading"))
        : complaints.length ? complaints.map(card) : h("p", { class: "muted big-empty" }, t("complaints.empty.list")));
    if (typing && page.contains(typing)) typing.focus(); // a kept field: the person typing carries on
  }

  render();
  reload();
  const clock = setInterval(redrawClocks, CLOCK_MS);
  return {
    changed(topic) {
      if (["complaints", "reconnect"].includes(topic)) reload();
    },
    unmount() {
      clearInterval(clock);
    },
  };
}
