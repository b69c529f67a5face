// Times that name their zone: "14:02 CST (Beijing)", "14:02 北京时间", "27 Nov 09:15 GMT".
import { lang, t } from "./i18n.js";

// Every name the tz database gives China Standard Time (UTC+8, no daylight saving).
const BEIJING_ZONES = new Set(["Asia/Shanghai", "Asia/Chongqing", "Asia/Chungking", "Asia/Harbin", "PRC"]);

export function displayZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

function locale() {
  return lang() === "zh-CN" ? "zh-CN" : "en-GB";
}

function zoneLabel(date) {
  const zone = displayZone();
  if (BEIJING_ZONES.has(zone)) return t("time.beijing");
  const part = new Intl.DateTimeFormat(locale(), { timeZone: zone, timeZoneName: "short" })
    .formatToParts(date).find((p) => p.type === "timeZoneName");
  return part ? part.value : zone;
}

function dayOf(date) {
  return date.toLocaleDateString("en-CA", { timeZone: displayZone() });
}

// withDate: "auto" adds the day when it is not today, true always adds it.
export function zonedTime(iso, withDate = "auto") {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "–";
  const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: displayZone() };
  if (withDate === true || (withDate === "auto" && dayOf(date) !== dayOf(new Date()))) {
    Object.assign(options, { month: "short", day: "numeric" });
  }
  return `${date.toLocaleString(locale(), options)} ${zoneLabel(date)}`;
}
