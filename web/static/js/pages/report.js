// The customer's two forms: report a loss (first notice of loss) and ask for rescue. Both file through the
// same API staff use (POST /v1/claims, POST /v1/rescue/jobs); a claim inside an open CAT event joins the
// green channel there, and the page says so.
import { post, upload } from "../api.js";
import { t } from "../i18n.js";
import { OPEN_STAGES } from "../states.js";
import { h, replace, toast } from "../ui.js";
import { ACCEPT, fileProblem, showCustomerProblem } from "./upload.js";

const LOSSES = ["flood", "wind", "fall", "other"];
// What staff read in the claim's description: kept in one language for the claims team, whatever the
// customer's page shows.
const LOSS_FOR_STAFF = { flood: "flooded / under water", wind: "wind or storm damage",
  fall: "hit by a falling tree or object", other: "other" };
const OPEN = new Set(OPEN_STAGES);

function kindOf(asset) {
  return ["vehicle", "home", "shop", "factory"].includes(asset.kind) ? asset.kind : "other";
}

function assetLabel(asset) {
  return [h("b", {}, t(`assetName.${kindOf(asset)}`)), asset.address ? h("span", { class: "address" }, asset.address) : null];
}

function choice(name, value, label, { checked = false, testid } = {}) {
  const id = `${name}-${value}`;
  return h("label", { class: "choice", for: id },
    h("input", { type: "radio", id, name, value, checked, required: true, "data-testid": testid || id }),
    h("span", { class: "choice-text" }, label));
}

function group(legend, ...choices) {
  return h("fieldset", { class: "choices" }, h("legend", {}, legend), ...choices);
}

function chosen(form, name) {
  return form.querySelector(`input[name="${name}"]:checked`)?.value ?? null;
}

function idempotencyKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

function localNow() {
  const now = new Date();
  now.setMinutes(now.getMinutes() - now.getTimezoneOffset());
  return now.toISOString().slice(0, 16);
}

function backLink() {
  return h("a", { class: "back", href: "#/claims", "data-testid": "back" }, `← ${t("common.back")}`);
}

function assetChoices(assets, name, legend) {
  return group(legend, ...assets.map((asset, index) => choice(name, asset.asset_id, assetLabel(asset),
    { checked: assets.length === 1 && index === 0, testid: `${name}-${index}` })));
}

function noAssets(page) {
  replace(page, backLink(), h("p", { class: "big-empty", "data-testid": "no-assets" }, t("report.noAssets")));
  return {};
}

export function mountReport(page, { assets, settings, done }) {
  if (!assets.length) return noAssets(page);
  const key = idempotencyKey(); // one key per form: a double tap or a retry files one claim
  const error = h("p", { class: "error", role: "alert", "data-testid": "report-error" });
  const photo = h("input", { type: "file", id: "report-photo", accept: ACCEPT, capture: "environment",
    "data-testid": "report-photo" });
  const when = h("input", { type: "datetime-local", id: "report-when", value: localNow(), max: localNow(),
    "data-testid": "report-when" });
  const note = h("textarea", { id: "report-note", rows: 3, maxlength: 2000, "data-testid": "report-note" });
  const progress = h("progress", { max: 100, value: 0, hidden: true, "aria-label": t("report.photo") });
  const submit = h("button", { type: "submit", class: "primary big", "data-testid": "report-submit" }, t("report.submit"));
  const form = h("form", { class: "customer-form card", "data-testid": "report-form", novalidate: true },
    h("h1", {}, t("report.title")),
    assetChoices(assets, "asset", t("report.asset")),
    group(t("report.kind"), ...LOSSES.map((loss) => choice("loss", loss, t(`loss.${loss}`)))),
    h("div", { class: "field" }, h("label", { for: "report-when" }, t("report.when")), when),
    h("div", { class: "field" }, h("label", { for: "report-photo" }, t("report.photo")), photo, progress),
    h("div", { class: "field" }, h("label", { for: "report-note" }, t("report.note")), note),
    error, submit);
  replace(page, backLink(), form);
  form.querySelector("input")?.focus();

  photo.addEventListener("change", () => {
    const file = photo.files[0];
    error.textContent = file ? fileProblem(file, settings) || "" : "";
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const assetId = chosen(form, "asset");
    const loss = chosen(form, "loss");
    if (!assetId) { error.textContent = t("report.chooseAsset"); return; }
    if (!loss) { error.textContent = t("report.chooseKind"); return; }
    const file = photo.files[0] || null;
    const problem = file && fileProblem(file, settings);
    if (problem) { error.textContent = problem; return; }
    const asset = assets.find((a) => a.asset_id === assetId);
    const lossAt = when.value ? new Date(when.value) : new Date();
    const body = {
      asset_id: assetId, loss_at: (lossAt > new Date() ? new Date() : lossAt).toISOString(),
      description: [`Loss: ${LOSS_FOR_STAFF[loss]}.`, note.value.trim()].filter(Boolean).join(" "),
      vehicle_in_water: loss === "flood" && asset.kind === "vehicle",
    };
    submit.disabled = true;
    submit.textContent = t("report.sending");
    try {
      const claim = await post("/v1/claims", body, { "Idempotency-Key": key });
      if (file) {
        const form = new FormData();
        form.append("kind", "photos");
        form.append("file", file, file.name);
        progress.hidden = false;
        // The claim is filed either way: a photo that fails can be sent again from the claim's page.
        await upload(`/v1/claims/${claim.id}/documents`, form, (f) => { progress.value = Math.round(f * 100); })
          .catch(() => toast(t("upload.failed"), "error"));
      }
      toast(claim.fast_track ? t("customer.joinedGreen") : t("customer.filedOrdinary"));
      done(claim);
    } catch (failure) {
      showCustomerProblem(failure);
      submit.disabled = false;
      submit.textContent = t("report.submit");
    }
  });
  return {};
}

export function mountRescue(page, { assets: owned, claims, done }) {
  if (!owned.length) return noAssets(page);
  const assets = [...owned].sort((a, b) => Number(b.kind === "vehicle") - Number(a.kind === "vehicle")); // cars get stuck
  const key = idempotencyKey();
  let here = null; // {lon, lat} from the browser, once the customer shares it
  const error = h("p", { class: "error", role: "alert", "data-testid": "rescue-error" });
  const located = h("p", { class: "located", role: "status", "data-testid": "rescue-located" });
  const locate = h("button", { type: "button", class: "big", "data-testid": "rescue-locate" }, t("rescue.locate"));
  const hereChoice = choice("where", "here", t("rescue.here"), { testid: "rescue-where-here" });
  const atAsset = choice("where", "asset", t("rescue.atAsset", { a: t("asset.other") }), { testid: "rescue-where-asset" });
  const submit = h("button", { type: "submit", class: "primary big danger-fill", "data-testid": "rescue-submit" },
    t("rescue.submit"));
  const yesNo = (name, legend) => group(legend, choice(name, "yes", t("common.yes"), { testid: `${name}-yes` }),
    choice(name, "no", t("common.no"), { testid: `${name}-no` }));
  const form = h("form", { class: "customer-form card", "data-testid": "rescue-form", novalidate: true },
    h("h1", {}, t("rescue.title")), h("p", { class: "lead warning" }, t("rescue.lead")),
    assetChoices(assets, "rescue-asset", t("rescue.asset")),
    h("fieldset", { class: "choices" }, h("legend", {}, t("rescue.where")), hereChoice, locate, located, atAsset),
    yesNo("trapped", t("rescue.trapped")), yesNo("injured", t("rescue.injured")),
    error, submit);
  replace(page, backLink(), form);

  function assetLabelUpdate() {
    const asset = assets.find((a) => a.asset_id === chosen(form, "rescue-asset"));
    atAsset.querySelector(".choice-text").textContent = t("rescue.atAsset",
      { a: t(`asset.${asset ? kindOf(asset) : "other"}`) });
  }
  form.addEventListener("change", assetLabelUpdate);
  assetLabelUpdate();

  locate.addEventListener("click", () => {
    if (!navigator.geolocation) { located.textContent = t("rescue.noLocation"); return; }
    located.textContent = t("rescue.locating");
    navigator.geolocation.getCurrentPosition((position) => {
      here = { lon: position.coords.longitude, lat: position.coords.latitude };
      hereChoice.querySelector("input").checked = true;
      located.textContent = t("rescue.located", { n: Math.max(1, Math.round(position.coords.accuracy || 0)) });
    }, () => {
      located.textContent = t("rescue.noLocation");
      atAsset.querySelector("input").checked = true;
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const assetId = chosen(form, "rescue-asset");
    const where = chosen(form, "where");
    if (!assetId) { error.textContent = t("report.chooseAsset"); return; }
    if (!where || (where === "here" && !here)) { error.textContent = t("rescue.chooseWhere"); return; }
    const asset = assets.find((a) => a.asset_id === assetId);
    const location = where === "here" ? here : asset.location;
    const trapped = chosen(form, "trapped") === "yes";
    const injured = chosen(form, "injured") === "yes";
    const note = ["Rescue asked by the customer on their page.", trapped ? "Someone is trapped." : "",
      injured ? "Someone is injured." : ""].filter(Boolean).join(" ");
    submit.disabled = true;
    try {
      let claim = claims.find((c) => c.asset_id === assetId && OPEN.has(c.stage));
      if (!claim) {
        claim = await post("/v1/claims", {
          asset_id: assetId, loss_at: new Date().toISOString(), location, description: note,
          person_trapped: trapped, person_injured: injured, cannot_drive: asset.kind === "vehicle",
        }, { "Idempotency-Key": key });
      }
      await post("/v1/rescue/jobs", { claim_id: claim.id, location, note });
      toast(t("rstate.created"));
      done(claim);
    } catch (failure) {
      showCustomerProblem(failure);
      submit.disabled = false;
    }
  });
  return {};
}
