// The state vocabulary, read from the server (GET /v1/vocabulary, built from the StrEnums in store/models),
// so the pages never spell a state themselves. A member the server no longer has throws where it is read
// instead of quietly comparing with undefined (docs/architecture.md, "One vocabulary").
const vocabulary = await loadVocabulary();

async function loadVocabulary() {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const response = await fetch("/v1/vocabulary", { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) return await response.json();
      if (attempt >= 3) throw new Error(`the state vocabulary: HTTP ${response.status}`);
    } catch (error) {
      if (attempt >= 3) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
  }
}

function strict(what, values) {
  if (!values) throw new Error(`${what} is not in the state vocabulary`);
  return new Proxy(Object.freeze({ ...values }), {
    get(target, key) {
      if (typeof key === "string" && !Object.hasOwn(target, key) && key !== "then" && key !== "toJSON") {
        throw new Error(`${what}.${key} is not in the state vocabulary`);
      }
      return target[key];
    },
  });
}

function enumOf(name) {
  return strict(name, vocabulary.enums[name]);
}

function setOf(name) {
  if (!vocabulary.sets[name]) throw new Error(`${name} is not in the state vocabulary`);
  return Object.freeze([...vocabulary.sets[name]]);
}

export const CatEventStatus = enumOf("CatEventStatus");
export const ClaimStage = enumOf("ClaimStage");
export const ComplaintState = enumOf("ComplaintState");
export const DocumentStatus = enumOf("DocumentStatus");
export const JobState = enumOf("JobState");
export const ManualWarningState = enumOf("ManualWarningState");
export const NotificationState = enumOf("NotificationState");
export const OfferState = enumOf("OfferState");
export const PaymentKind = enumOf("PaymentKind");
export const PaymentState = enumOf("PaymentState");

// The six stages customers see, in order; the five before paid-and-closed are open.
export const STAGES = setOf("STAGES");
export const OPEN_STAGES = setOf("OPEN_STAGES");
export const LIVE_JOB_STATES = setOf("LIVE_JOB_STATES");
// Payments that count against the caps (on their way, or paid).
export const COUNTED_PAYMENT_STATES = setOf("COUNTED_PAYMENT_STATES");
// A message that will never arrive, and every final word (delivered included).
export const NOT_DELIVERED = setOf("NOT_DELIVERED");
export const FINAL_STATES = setOf("FINAL_STATES");
