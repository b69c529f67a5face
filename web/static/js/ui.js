// Small DOM and formatting helpers shared by the pages.
import { lang, t } from "./i18n.js";

// Every page builds its DOM here: children that are not nodes become text nodes, so text from outside
// (headlines, names, notes, codes) is never parsed as markup.
// h("div", {class: "x", onclick: fn, style: {"--c": "#fff"}, "data-testid": "y"}, child, "text", [more])
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) {
      // A string here would become an inline handler, which the Content-Security-Policy refuses anyway.
      if (typeof value !== "function") throw new TypeError(`${name} must be a function`);
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") element.className = value;
    else if (name === "text") element.textContent = value;
    else if (name === "style") setStyle(element, value);
    else if (URL_ATTRIBUTES.has(name) && !safeUrl(value)) throw new TypeError(`${name} must be an http(s), tel or relative URL`);
    else element.setAttribute(name, value === true ? "" : value);
  }
  append(element, children);
  return element;
}

const URL_ATTRIBUTES = new Set(["href", "src", "action", "formaction"]);
function safeUrl(value) {
  const scheme = /^\s*([a-z][a-z0-9+.-]*):/i.exec(String(value));
  return !scheme || ["http", "https", "tel", "mailto"].includes(scheme[1].toLowerCase());
}

// Styles go through the CSSOM: a style="" attribute would need 'unsafe-inline' in the policy.
export function setStyle(element, styles) {
  if (typeof styles !== "object") throw new TypeError("style must be an object of properties");
  for (const [property, value] of Object.entries(styles)) element.style.setProperty(property, String(value));
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

export function toast(message, kind = "info") {
  const box = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status", "data-testid": "toast" },
    message);
  document.getElementById("toasts").append(box);
  setTimeout(() => box.remove(), kind === "error" ? 8000 : 4000);
}

export function showError(error) {
  toast(error.message || String(error), "error");
}

// Clock offset: the server's time minus ours, so countdowns agree with the server's expiry times.
let offsetMs = 0;
export function syncClock(serverTime) {
  if (serverTime) offsetMs = Date.parse(serverTime) - Date.now();
}
export function serverNow() {
  return Date.now() + offsetMs;
}

function locale() {
  return lang() === "zh-CN" ? "zh-CN" : "en-GB";
}

export function time(iso, withDate = "auto") {
  if (!iso) return "–";
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  const options = { hour: "2-digit", minute: "2-digit" };
  if (withDate === true || (withDate === "auto" && !today)) Object.assign(options, { month: "short", day: "numeric" });
  return date.toLocaleString(locale(), options);
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(Math.abs(seconds)));
  const zh = lang() === "zh-CN";
  if (s < 60) return zh ? `${s} 秒` : `${s} s`;
  if (s < 3600) return zh ? `${Math.round(s / 60)} 分钟` : `${Math.round(s / 60)} min`;
  if (s < 86400 * 2) {
    const total = Math.round(s / 60), hours = Math.floor(total / 60), minutes = total % 60;
    return zh ? `${hours} 小时 ${minutes} 分` : `${hours} h ${minutes} min`;
  }
  return zh ? `${Math.round(s / 86400)} 天` : `${Math.round(s / 86400)} days`;
}

export function ago(iso) {
  if (!iso) return "–";
  return t("common.ago", { n: duration((serverNow() - Date.parse(iso)) / 1000) });
}

export function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function money(value) {
  if (value === null || value === undefined || value === "") return "–";
  return Number(value).toLocaleString(locale(), { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

export function number(value) {
  return value === null || value === undefined ? "–" : Number(value).toLocaleString(locale());
}

// Calls fn once, `ms` after the last of a burst of calls (live updates come in bursts).
export function debounce(fn, ms = 250) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// A button that asks for a second click before doing something that cannot be undone.
export function confirmButton(label, attrs, action) {
  let armed = false, timer = null;
  const button = h("button", attrs, label);
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.classList.add("armed");
      button.textContent = t("common.confirm");
      timer = setTimeout(() => { armed = false; button.classList.remove("armed"); button.textContent = label; }, 5000);
      return;
    }
    clearTimeout(timer);
    await busy(button, action);
  });
  return button;
}

// Runs an async action with the button disabled, reporting failures as a toast.
export async function busy(button, action) {
  button.disabled = true;
  try {
    return await action();
  } catch (error) {
    showError(error);
    return undefined;
  } finally {
    button.disabled = false;
  }
}

// Inputs that survive a live re-render: the same element (and what was typed) for the same name.
export function keptFields() {
  const fields = new Map();
  return {
    get(name, make) {
      if (!fields.has(name)) fields.set(name, make());
      return fields.get(name);
    },
    forget(...names) {
      if (!names.length) fields.clear();
      for (const name of names) fields.delete(name);
    },
  };
}

// True when the value differs from the one seen last time: a live update that changed nothing
// must not re-render a page someone is typing into.
export function changeDetector() {
  let last = null;
  return (value) => {
    const key = JSON.stringify(value);
    if (key === last) return false;
    last = key;
    return true;
  };
}
