// The console shell: sign-in, the pages of the user's role, language and large type, live updates.
import { api, get, setCsrfToken, whenSignedOut } from "./api.js";
import { lang, setLang, t } from "./i18n.js";
import * as approvals from "./pages/approvals.js";
import * as catevents from "./pages/catevents.js";
import * as claims from "./pages/claims.js";
import * as complaints from "./pages/complaints.js";
import * as dispatch from "./pages/dispatch.js";
import * as feeds from "./pages/feeds.js";
import * as lossreport from "./pages/lossreport.js";
import * as map from "./pages/map.js";
import * as outbox from "./pages/outbox.js";
import * as warnings from "./pages/warnings.js";
import * as queue from "./pages/queue.js";
import { showPasswordChange, showSignIn } from "./pages/signin.js";
import { ManualWarningState } from "./states.js";
import { h, replace, showError } from "./ui.js";

const PAGES = { map, dispatch, queue, approvals, catevents, claims, complaints, feeds, outbox, lossreport, warnings };
const view = document.getElementById("view");
const topbar = document.getElementById("topbar");
let me = null;
let page = null;
let events = null;

// ?lang=zh-CN|en and ?type=large open the page the way a customer reads it; the choice is kept in
// localStorage and in the address, so a bookmark or a shared link keeps it too.
function readChoicesFromAddress() {
  const query = new URLSearchParams(location.search);
  if (["zh-CN", "en"].includes(query.get("lang"))) setLang(query.get("lang"));
  if (query.has("type")) localStorage.setItem("haven.large", query.get("type") === "large" ? "1" : "");
  return query;
}

function writeChoicesToAddress() {
  const url = new URL(location.href);
  url.searchParams.set("lang", lang());
  if (largeType()) url.searchParams.set("type", "large"); else url.searchParams.delete("type");
  url.searchParams.delete("link");
  history.replaceState(history.state, "", url);
}

function largeType() {
  return document.documentElement.classList.contains("large");
}

function applyLargeType(on) {
  document.documentElement.classList.toggle("large", on); // on <html>, so rem sizes grow too
  localStorage.setItem("haven.large", on ? "1" : "");
  for (const button of document.querySelectorAll("[data-testid=large-type]")) button.setAttribute("aria-pressed", String(on));
}

function toggleLanguage() {
  setLang(lang() === "en" ? "zh-CN" : "en");
  writeChoicesToAddress();
}

function toggleLargeType() {
  applyLargeType(!largeType());
  writeChoicesToAddress();
}

// The language button names the other language in that language, and says so to screen readers.
function languageButtonAttrs() {
  return { lang: lang() === "en" ? "zh-CN" : "en" };
}

function renderTopbar() {
  document.title = me.role === "customer" ? t("customer.title") : `Haven · ${t(`role.${me.role}`)}`;
  document.body.classList.toggle("customer-mode", me.role === "customer");
  const nav = document.getElementById("nav");
  nav.hidden = me.pages.length < 2;
  replace(nav, me.pages.map((name) =>
    h("a", { href: `#/${name}`, "data-page": name, "data-testid": `nav-${name}` }, t(`nav.${name}`),
      name === "approvals" ? approvalsBadge : null)));
  nav.setAttribute("aria-label", t("top.pages"));
  document.getElementById("who").textContent = me.role === "customer" ? me.name : `${me.name} · ${t(`role.${me.role}`)}`;
  document.getElementById("large-type").textContent = t("top.large");
  const language = document.getElementById("lang");
  language.textContent = t("top.lang");
  for (const [name, value] of Object.entries(languageButtonAttrs())) language.setAttribute(name, value);
  document.getElementById("sign-out").textContent = t("top.signout");
  applyLargeType(largeType());
  markLive(events && events.readyState === EventSource.OPEN);
}

// The count of payments and manual warnings waiting for this user's decision, beside "Approvals" in the navigation.
const approvalsBadge = h("span", { class: "badge nav-badge", "data-testid": "approvals-badge", hidden: true });
async function manualWarningsToApprove() {
  try {
    const { warnings } = await get(`/v1/manual-warnings?state=${ManualWarningState.AWAITING_APPROVAL}`);
    return warnings.filter((warning) => warning.may_approve).length;
  } catch {
    return 0; // a role that may not list them (or a hiccup) still sees its payments counted
  }
}

async function refreshApprovalsBadge() {
  if (!me || !me.pages.includes("approvals")) return;
  try {
    const [{ waiting: payments }, warnings] = await Promise.all([get("/v1/approvals/waiting"), manualWarningsToApprove()]);
    const waiting = payments + warnings;
    approvalsBadge.textContent = String(waiting);
    approvalsBadge.hidden = waiting === 0;
    approvalsBadge.setAttribute("aria-label", t("approvals.badge", { n: waiting }));
  } catch {
    approvalsBadge.hidden = true; // the page itself reports the failure; the badge just goes quiet
  }
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
    location.replace(`${location.pathname}${location.search}#/${me.pages[0]}`);
    return;
  }
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.page === name);
    if (link.dataset.page === name) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
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
    refreshApprovalsBadge();
    page?.instance.changed?.("reconnect", {});
  });
  events.addEventListener("error", () => markLive(false));
  for (const topic of ["warnings", "deliveries", "rescue", "queue", "payments", "cat_events", "claim", "complaints", "manual_warnings"]) {
    events.addEventListener(topic, (event) => {
      if (topic === "payments" || topic === "manual_warnings") refreshApprovalsBadge();
      page?.instance.changed?.(topic, JSON.parse(event.data));
    });
  }
}

// Language and large type on the sign-in pages, before anyone is known.
function signInToggles(redraw) {
  const language = h("button", { type: "button", class: "toggle", "data-testid": "lang", ...languageButtonAttrs(),
    onclick: () => { toggleLanguage(); redraw(); } }, t("top.lang"));
  const large = h("button", { type: "button", class: "toggle", "data-testid": "large-type",
    "aria-pressed": String(largeType()), onclick: () => toggleLargeType() }, t("top.large"));
  return h("div", { class: "signin-toggles" }, large, language);
}

function stopPage() {
  me = null;
  setCsrfToken(null);
  events?.close();
  events = null;
  page?.instance.unmount?.();
  page = null;
  topbar.hidden = true;
  document.body.classList.remove("customer-mode");
}

function showLogin({ notice = "", who } = {}) {
  stopPage();
  document.title = t("signin.title");
  view.className = "page-login";
  const chosen = who || sessionStorage.getItem("haven.signInAs") || "customer";
  const redraw = () => showLogin({ notice, who: currentSignInChoice() || chosen });
  showSignIn(view, { onSignedIn: () => enter(), toggles: signInToggles(redraw), who: chosen, notice });
  for (const button of view.querySelectorAll("[data-who]")) {
    button.addEventListener("click", () => sessionStorage.setItem("haven.signInAs", button.dataset.who));
  }
}

function currentSignInChoice() {
  return view.querySelector("[data-who][aria-pressed=true]")?.dataset.who;
}

function showChangePassword(csrfToken) {
  stopPage();
  setCsrfToken(csrfToken);
  view.className = "page-login";
  const redraw = () => showChangePassword(csrfToken);
  showPasswordChange(view, { onChanged: () => enter(), onSignOut: signOut, toggles: signInToggles(redraw) });
}

// Who is signed in: /v1/me gives the CSRF token (and whether a one-time password must go first),
// /v1/console/me the pages of the role and the hotline.
async function enter() {
  let who;
  try {
    who = await get("/v1/me");
  } catch (error) {
    if (error.status !== 401) showError(error);
    const expired = new URLSearchParams(location.search).get("link") === "expired";
    showLogin({ notice: expired ? t("signin.linkExpired") : "" });
    return;
  }
  setCsrfToken(who.csrf_token);
  if (who.password_change_required) {
    showChangePassword(who.csrf_token);
    return;
  }
  try {
    me = { ...(await get("/v1/console/me")), csrf_token: who.csrf_token };
  } catch (error) {
    showError(error);
    showLogin();
    return;
  }
  if (me.role === "customer") writeChoicesToAddress();
  topbar.hidden = false;
  renderTopbar();
  refreshApprovalsBadge();
  listen();
  remount();
}

async function signOut() {
  await api("POST", "/v1/auth/logout").catch(() => null);
  await api("DELETE", "/v1/console/session").catch(() => null); // an API-key cookie from an older console
  history.replaceState(null, "", `${location.pathname}${location.search}`);
  showLogin();
}

function boot() {
  readChoicesFromAddress();
  applyLargeType(localStorage.getItem("haven.large") === "1");
  document.getElementById("large-type").addEventListener("click", () => {
    toggleLargeType();
  });
  document.getElementById("lang").addEventListener("click", () => {
    toggleLanguage();
    renderTopbar();
    remount();
  });
  document.getElementById("sign-out").addEventListener("click", signOut);
  // Only a session that ends under a signed-in page redraws the sign-in form: a late answer to a request
  // made before the user signed out must not wipe what they are typing into it.
  whenSignedOut(() => { if (me) showLogin({ notice: t("signin.ended") }); });
  window.addEventListener("hashchange", route);
  enter();
}

boot();
