// The console shell: sign-in, the pages of the user's role, language and large type, live updates.
import { api, whenSignedOut } from "./api.js";
import { lang, setLang, t } from "./i18n.js";
import * as approvals from "./pages/approvals.js";
import * as claims from "./pages/claims.js";
import * as dispatch from "./pages/dispatch.js";
import * as map from "./pages/map.js";
import * as queue from "./pages/queue.js";
import { h, replace, showError } from "./ui.js";

const PAGES = { map, dispatch, queue, approvals, claims };
const view = document.getElementById("view");
const topbar = document.getElementById("topbar");
let me = null;
let page = null;
let events = null;

function applyLargeType(on) {
  document.documentElement.classList.toggle("large", on); // on <html>, so rem sizes grow too
  localStorage.setItem("haven.large", on ? "1" : "");
  const button = document.getElementById("large-type");
  button.setAttribute("aria-pressed", String(on));
}

function renderTopbar() {
  document.title = `Haven · ${t(`role.${me.role}`)}`;
  replace(document.getElementById("nav"), me.pages.map((name) =>
    h("a", { href: `#/${name}`, "data-page": name, "data-testid": `nav-${name}` }, t(`nav.${name}`))));
  document.getElementById("who").textContent = `${me.name} · ${t(`role.${me.role}`)}`;
  document.getElementById("large-type").textContent = t("top.large");
  document.getElementById("lang").textContent = t("top.lang");
  document.getElementById("sign-out").textContent = t("top.signout");
  markLive(events && events.readyState === EventSource.OPEN);
}

function markLive(on) {
  const live = document.getElementById("live");
  live.textContent = on ? `● ${t("live.on")}` : `○ ${t("live.off")}`;
  live.classList.toggle("on", Boolean(on));
}

function route() {
  if (!me) return;
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  if (!me.pages.includes(name)) {
    location.replace(`#/${me.pages[0]}`);
    return;
  }
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.page === name);
  if (page && page.name === name && page.instance.navigate) {
    page.instance.navigate(rest);
    return;
  }
  if (page) page.instance.unmount?.();
  view.replaceChildren();
  view.className = `page-${name}`;
  page = { name, instance: PAGES[name].mount(view, { me, args: rest }) };
}

function remount() {
  if (page) page.instance.unmount?.();
  page = null;
  route();
}

function listen() {
  events?.close();
  events = new EventSource("/v1/console/events");
  events.addEventListener("open", () => {
    markLive(true);
    page?.instance.changed?.("reconnect", {});
  });
  events.addEventListener("error", () => markLive(false));
  for (const topic of ["warnings", "deliveries", "rescue", "queue", "payments", "cat_events", "claim"]) {
    events.addEventListener(topic, (event) => page?.instance.changed?.(topic, JSON.parse(event.data)));
  }
}

function showLogin(message) {
  me = null;
  events?.close();
  events = null;
  page?.instance.unmount?.();
  page = null;
  topbar.hidden = true;
  view.className = "page-login";
  const input = h("input", { type: "password", id: "api-key", autocomplete: "off", "data-testid": "api-key",
    required: true, "aria-label": t("login.key") });
  const error = h("p", { class: "error", "data-testid": "login-error" }, message || "");
  const form = h("form", { class: "login card", "data-testid": "login" },
    h("h1", {}, h("img", { class: "logo", src: "/static/favicon.svg", alt: "" }), " ", t("login.title")),
    h("p", { class: "lead" }, t("login.lead"), h("br"), h("code", {}, "haven users create --role ROLE --name NAME"),
      h("br"), t("login.customers")),
    h("label", { for: "api-key" }, t("login.key")), input, error,
    h("div", { class: "row" },
      h("button", { type: "submit", class: "primary", "data-testid": "sign-in" }, t("login.submit")),
      h("button", { type: "button", class: "quiet", onclick: () => { setLang(lang() === "en" ? "zh-CN" : "en"); showLogin(); } },
        t("top.lang"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      me = await api("POST", "/v1/console/session", { api_key: input.value });
      start();
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  replace(view, form);
  input.focus();
}

function start() {
  topbar.hidden = false;
  renderTopbar();
  listen();
  remount();
}

async function boot() {
  applyLargeType(localStorage.getItem("haven.large") === "1");
  document.getElementById("large-type").addEventListener("click", () =>
    applyLargeType(!document.documentElement.classList.contains("large")));
  document.getElementById("lang").addEventListener("click", () => {
    setLang(lang() === "en" ? "zh-CN" : "en");
    renderTopbar();
    remount();
  });
  document.getElementById("sign-out").addEventListener("click", async () => {
    await api("DELETE", "/v1/console/session").catch(() => null);
    location.hash = "";
    showLogin();
  });
  whenSignedOut(() => showLogin());
  window.addEventListener("hashchange", route);
  try {
    me = await api("GET", "/v1/console/me");
  } catch (error) {
    if (error.status !== 401) showError(error);
    showLogin();
    return;
  }
  start();
}

boot();
