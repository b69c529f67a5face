// Signing in: customers with their phone number and a six-digit code sent by SMS; staff with a username
// and password, replacing a one-time password at the first sign-in. The server's answers decide; this page
// only says in the reader's language what happened.
import { api, post } from "../api.js";
import { lang, t } from "../i18n.js";
import { h, replace } from "../ui.js";

// Server refusals by code, as people read them; anything else gets the general text.
const REFUSALS = {
  invalid_code: "signin.error.code", locked: "signin.error.locked", throttled: "signin.error.throttled",
  invalid_credentials: "signin.error.credentials", wrong_password: "signin.error.current",
  weak_password: "signin.error.weak", forbidden: "signin.error.notStaff",
};

function refusal(error, fallback = "signin.error.general") {
  if (error.code === "malformed" || error.code === "invalid") {
    if (error.field === "phone") return t("signin.error.phone");
    if (error.field === "code") return t("signin.error.code");
  }
  return t(REFUSALS[error.code] || fallback);
}

function field(id, label, attrs, hint) {
  const input = h("input", { id, name: id, ...attrs });
  return { input, row: h("div", { class: "field" }, h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null, input) };
}

function errorLine(testid) {
  return h("p", { class: "error", role: "alert", "data-testid": testid });
}

// A button that shows it is working and cannot be pressed twice.
async function working(button, action) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

function customerForm(onSignedIn) {
  const phone = field("phone", t("signin.phone"), { type: "tel", autocomplete: "tel", inputmode: "tel",
    required: true, maxlength: 32, "data-testid": "phone", "aria-describedby": "phone-hint" }, t("signin.phoneHint"));
  const code = field("code", t("signin.code"), { type: "text", autocomplete: "one-time-code", inputmode: "numeric",
    pattern: "[0-9]{6}", maxlength: 6, required: true, "data-testid": "code", "aria-describedby": "code-hint" },
  t("signin.codeHint"));
  const error = errorLine("customer-error");
  const sent = h("p", { class: "sent-note", role: "status", "data-testid": "code-sent" });
  const send = h("button", { type: "submit", class: "primary big", "data-testid": "send-code" }, t("signin.sendCode"));
  const verify = h("button", { type: "submit", class: "primary big", "data-testid": "verify-code" }, t("signin.verify"));
  const again = h("button", { type: "button", class: "link", "data-testid": "send-again" }, t("signin.sendAgain"));
  const codeStep = h("div", { class: "code-step", hidden: true }, sent, code.row, verify, again);
  const form = h("form", { class: "signin-form", "data-testid": "customer-sign-in", novalidate: true },
    h("h2", {}, t("signin.customerTitle")), phone.row, send, codeStep, error);

  async function ask() {
    error.textContent = "";
    if (!phone.input.value.trim()) {
      error.textContent = t("signin.error.phone");
      phone.input.focus();
      return;
    }
    try {
      await working(send, () => post("/v1/auth/customer/code", { phone: phone.input.value.trim() }));
    } catch (failure) {
      error.textContent = refusal(failure);
      return;
    }
    send.hidden = true;
    codeStep.hidden = false;
    sent.textContent = t("signin.codeSent");
    code.input.value = "";
    code.input.focus();
  }

  async function check() {
    error.textContent = "";
    const digits = code.input.value.replace(/\D/g, "");
    if (digits.length !== 6) {
      error.textContent = t("signin.error.codeLength");
      code.input.focus();
      return;
    }
    try {
      const me = await working(verify, () => post("/v1/auth/customer/verify",
        { phone: phone.input.value.trim(), code: digits }));
      onSignedIn(me);
    } catch (failure) {
      error.textContent = refusal(failure);
      code.input.select();
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (codeStep.hidden) ask(); else check();
  });
  again.addEventListener("click", ask);
  phone.input.addEventListener("input", () => { send.hidden = false; codeStep.hidden = true; });
  return { form, focus: () => phone.input.focus() };
}

function staffForm(onSignedIn) {
  const username = field("username", t("signin.username"), { type: "text", autocomplete: "username",
    autocapitalize: "none", spellcheck: "false", required: true, maxlength: 200, "data-testid": "username" });
  const password = field("password", t("signin.password"), { type: "password", autocomplete: "current-password",
    required: true, maxlength: 1024, "data-testid": "password" });
  const error = errorLine("staff-error");
  const submit = h("button", { type: "submit", class: "primary big", "data-testid": "staff-sign-in" }, t("signin.submit"));
  const form = h("form", { class: "signin-form", "data-testid": "staff-sign-in-form", novalidate: true },
    h("h2", {}, t("signin.staffTitle")), username.row, password.row, submit, error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (!username.input.value.trim() || !password.input.value) {
      error.textContent = t("signin.error.credentials");
      return;
    }
    try {
      const me = await working(submit, () => post("/v1/auth/login",
        { username: username.input.value.trim(), password: password.input.value }));
      onSignedIn(me);
    } catch (failure) {
      error.textContent = refusal(failure);
      password.input.select();
    }
  });
  return { form, focus: () => username.input.focus() };
}

// The sign-in page. `who` is "customer" or "staff" (which form shows first); `notice` a line above both.
export function showSignIn(view, { onSignedIn, toggles, who = "customer", notice = "" }) {
  const customer = customerForm(onSignedIn);
  const staff = staffForm(onSignedIn);
  const tabs = [["customer", t("signin.asCustomer")], ["staff", t("signin.asStaff")]];
  const panel = h("div", { class: "signin-panel" });
  const switcher = h("div", { class: "signin-switch", role: "group", "aria-label": t("signin.who") });

  function choose(name, focus = true) {
    for (const button of switcher.children) button.setAttribute("aria-pressed", String(button.dataset.who === name));
    const chosen = name === "staff" ? staff : customer;
    replace(panel, chosen.form);
    if (focus) chosen.focus();
  }

  for (const [name, label] of tabs) {
    switcher.append(h("button", { type: "button", class: "toggle", "data-who": name, "data-testid": `sign-in-as-${name}`,
      onclick: () => choose(name) }, label));
  }
  const page = h("div", { class: "signin card", "data-testid": "login", lang: lang() },
    h("div", { class: "signin-top" }, h("h1", {}, h("img", { class: "logo", src: "/static/favicon.svg", alt: "" }), " ",
      t("signin.title")), toggles),
    notice ? h("p", { class: "notice", role: "status", "data-testid": "sign-in-notice" }, notice) : null,
    switcher, panel);
  replace(view, page);
  choose(who, false);
}

// A staff member signed in with a one-time password replaces it before anything else.
export function showPasswordChange(view, { onChanged, onSignOut, toggles }) {
  const current = field("current-password", t("signin.current"), { type: "password", autocomplete: "current-password",
    required: true, "data-testid": "current-password" });
  const fresh = field("new-password", t("signin.new"), { type: "password", autocomplete: "new-password",
    required: true, minlength: 10, "data-testid": "new-password", "aria-describedby": "new-password-hint" },
  t("signin.newHint"));
  const repeat = field("repeat-password", t("signin.repeat"), { type: "password", autocomplete: "new-password",
    required: true, "data-testid": "repeat-password" });
  const error = errorLine("password-error");
  const submit = h("button", { type: "submit", class: "primary big", "data-testid": "change-password" }, t("signin.change"));
  const form = h("form", { class: "signin card", "data-testid": "password-change", novalidate: true },
    h("div", { class: "signin-top" }, h("h1", {}, t("signin.changeTitle")), toggles),
    h("p", { class: "lead" }, t("signin.changeLead")), current.row, fresh.row, repeat.row, submit, error,
    h("button", { type: "button", class: "link", "data-testid": "password-sign-out", onclick: onSignOut },
      t("top.signout")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (fresh.input.value.length < 10) {
      error.textContent = t("signin.error.weak");
      return;
    }
    if (fresh.input.value !== repeat.input.value) {
      error.textContent = t("signin.error.repeat");
      return;
    }
    try {
      await working(submit, () => api("POST", "/v1/auth/password",
        { current: current.input.value, new: fresh.input.value }));
      onChanged();
    } catch (failure) {
      error.textContent = refusal(failure);
    }
  });
  replace(view, form);
  current.input.focus();
}
