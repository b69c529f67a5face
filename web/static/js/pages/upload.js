// One-step upload: choosing a file or taking a photo sends it at once, with progress and a retry.
// The server decides what a file is (by its first bytes); the checks here only save a customer the wait
// for an answer we already know: a file too large for the server's limit, or plainly not a photo or PDF.
import { upload } from "../api.js";
import { lang, t } from "../i18n.js";
import { h, toast } from "../ui.js";

export const ACCEPT = "image/*,application/pdf";

export function fileProblem(file, settings) {
  if (file.size === 0) return t("upload.empty");
  if (settings.upload_limit_bytes && file.size > settings.upload_limit_bytes) {
    return t("upload.tooBig", { n: Math.floor(settings.upload_limit_bytes / (1024 * 1024)) });
  }
  const types = settings.upload_types || [];
  // Browsers leave the type empty for kinds they do not know (HEIC on some): let the server decide those.
  if (file.type && types.length && !types.includes(file.type)) return t("upload.wrongType");
  return null;
}

function answerProblem(error, settings) {
  if (error.status === 413 || error.code === "file_too_large" || error.code === "body_too_large") {
    return t("upload.tooBig", { n: Math.floor(settings.upload_limit_bytes / (1024 * 1024)) });
  }
  if (error.code === "unsupported_type") return t("upload.wrongType");
  if (error.code === "empty_file") return t("upload.empty");
  return t("upload.failed");
}

// A refusal from the server, for a customer: its message is English, so a Chinese page says it in general
// words rather than show English text (the precise message stays in the English page and the logs).
export function customerProblem(error) {
  if (!error.status) return t("upload.failed");
  return lang() === "en" && error.message ? error.message : t("signin.error.general");
}

export function showCustomerProblem(error) {
  toast(customerProblem(error), "error");
}

let counter = 0;

// The file picker for one document of one claim (claimId may be a function, for a claim filed later).
export function uploader({ claimId, kind, settings, label, onDone = () => {}, testid = `file-${kind}` }) {
  const id = `upload-${++counter}`;
  const input = h("input", { type: "file", id, class: "visually-hidden", accept: ACCEPT, capture: "environment",
    "data-testid": testid });
  const progress = h("progress", { max: 100, value: 0, hidden: true, "aria-label": label });
  const message = h("p", { class: "upload-message", role: "status", "data-testid": `${testid}-message` });
  const retry = h("button", { type: "button", class: "big", hidden: true, "data-testid": `${testid}-retry` },
    t("upload.retry"));
  const element = h("div", { class: "uploader", "data-testid": `uploader-${kind}` },
    h("label", { for: id, class: "upload-button" }, label), input, progress, message, retry);
  let file = null;

  async function send() {
    retry.hidden = true;
    element.classList.remove("failed");
    const problem = fileProblem(file, settings);
    if (problem) {
      message.textContent = problem;
      element.classList.add("failed");
      return null;
    }
    const form = new FormData();
    form.append("kind", kind);
    form.append("file", file, file.name);
    progress.hidden = false;
    progress.value = 0;
    message.textContent = t("upload.sending", { p: 0 });
    const target = typeof claimId === "function" ? claimId() : claimId;
    try {
      const stored = await upload(`/v1/claims/${target}/documents`, form, (fraction) => {
        progress.value = Math.round(fraction * 100);
        message.textContent = t("upload.sending", { p: Math.round(fraction * 100) });
      });
      progress.hidden = true;
      message.textContent = t("customer.uploaded", { d: t(`doc.${kind}`) });
      toast(t("customer.uploaded", { d: t(`doc.${kind}`) }));
      input.value = "";
      onDone(stored);
      return stored;
    } catch (error) {
      progress.hidden = true;
      message.textContent = answerProblem(error, settings);
      element.classList.add("failed");
      if (!(error.status >= 400 && error.status < 500)) retry.hidden = false; // a refusal will not change
      return null;
    }
  }

  input.addEventListener("change", () => {
    if (!input.files.length) return;
    file = input.files[0];
    send();
  });
  retry.addEventListener("click", () => file && send());
  return { element, input, chosen: () => input.files[0] || null, send };
}
