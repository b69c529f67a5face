"""The one state vocabulary (store/models/vocabulary.py) as the console reads it: GET /v1/vocabulary serves
the StrEnums, and a static scan of web/static/js finds no state the vocabulary lacks, whether spelled as a
bare string beside a state field or read as a member of web/static/js/states.js, and every state a page
names in words has its words in both languages."""

from __future__ import annotations

import re

from store.models import ComplaintState
from store.models.greenchannel import STAGES, ClaimStage
from store.models.vocabulary import state_vocabulary
from tests.support import ROOT
from tests.web.test_console_language import LANGUAGES, console_texts

JS = ROOT / "web" / "static" / "js"
STATES_JS = JS / "states.js"
VOCABULARY = state_vocabulary()
EVERY_STATE = {value for members in VOCABULARY["enums"].values() for value in members.values()}

FIELD = r"\.(?:state|stage|status)"
STRING = r"""["']([^"'\n]+)["']"""
# A bare string compared with a state field, either way round, or listed in a set a state field is looked up in.
COMPARED = [re.compile(FIELD + r"\s*[!=]==?\s*" + STRING), re.compile(STRING + r"\s*[!=]==?\s*[\w.?]*" + FIELD)]
LISTED = re.compile(r"\[([^\[\]]*)\]\s*\.includes\(\s*[\w.?]*" + FIELD + r"\s*\)")
# A state sent to the server in a request body: {to: "rejected"}, {status: "cancelled"}.
SENT = re.compile(r"[{,]\s*(?:to|status|state|stage)\s*:\s*" + STRING)
IMPORT = re.compile(r"import\s*\{([^}]*)\}\s*from\s*[\"'](?:\.\./|\./)states\.js[\"']")
ENUM_OF = re.compile(r"export const (\w+) = enumOf\(\"(\w+)\"\)")
SET_OF = re.compile(r"export const (\w+) = setOf\(\"(\w+)\"\)")
# The texts the pages look up by a state's value, t(`stage.${claim.stage}`): each enum's every member needs one.
WORDS_FOR = {"stage": "ClaimStage", "cstage": "ClaimStage", "pay": "PaymentState", "state": "JobState",
             "rstate": "JobState", "doc": "DocumentStatus", "kind": "PaymentKind", "outbox.state": "NotificationState",
             "feeds.status": "FeedHealth", "msg": "MsgType"}


def pages() -> list:
    return sorted(path for path in JS.rglob("*.js") if path != STATES_JS)


def bare_states(source: str) -> list[str]:
    """Strings the code treats as states: compared with, looked up for, or sent as a state field."""
    found = [match.group(1) for pattern in (*COMPARED, SENT) for match in pattern.finditer(source)]
    for listed in LISTED.finditer(source):
        found += re.findall(STRING, listed.group(1))
    return found


def states_exports() -> tuple[dict[str, str], dict[str, str]]:
    source = STATES_JS.read_text(encoding="utf-8")
    return dict(ENUM_OF.findall(source)), dict(SET_OF.findall(source))


def test_the_scan_sees_a_state_written_as_a_bare_string():
    sample = ('if (claim.stage === "closed_paid") x(); if ("paid" !== p.state) y();\n'
              'const ok = ["accepted", "en_route"].includes(job.state); post(u, { to: "rejected", note });')
    assert bare_states(sample) == ["closed_paid", "paid", "rejected", "accepted", "en_route"], \
        f"the scan's patterns miss a way a page spells a state: {bare_states(sample)}"


def test_the_vocabulary_has_every_state_set_from_the_models():
    assert VOCABULARY["enums"]["ClaimStage"]["CLOSED_PAID"] == ClaimStage.CLOSED_PAID, \
        f"ClaimStage as served: {VOCABULARY['enums']['ClaimStage']}"
    assert VOCABULARY["sets"]["STAGES"] == [str(stage) for stage in STAGES], "the six stages as served"
    assert set(VOCABULARY["enums"]["ComplaintState"].values()) == set(ComplaintState), "complaint states as served"
    wanted = {"ClaimStage", "JobState", "OfferState", "PaymentState", "NotificationState", "CatEventStatus"}
    assert wanted <= set(VOCABULARY["enums"]), f"state sets missing from the vocabulary: {wanted - set(VOCABULARY['enums'])}"


def test_states_js_exports_only_what_the_vocabulary_has():
    enums, sets = states_exports()
    assert enums and sets, "states.js exports no enum or set (the scan's pattern no longer matches it)"
    unknown = {name for name in enums.values() if name not in VOCABULARY["enums"]}
    assert not unknown, f"states.js reads enums the vocabulary does not have: {unknown}"
    unknown_sets = {name for name in sets.values() if name not in VOCABULARY["sets"]}
    assert not unknown_sets, f"states.js reads sets the vocabulary does not have: {unknown_sets}"


def test_no_page_uses_a_state_the_vocabulary_does_not_have():
    enums, sets = states_exports()
    problems = []
    for path in pages():
        source = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT)
        problems += [f"{where}: bare state {word!r}" for word in bare_states(source) if word not in EVERY_STATE]
        for imported in IMPORT.findall(source):
            for name in (part.strip() for part in imported.split(",") if part.strip()):
                original, _, alias = (word.strip() for word in name.partition(" as "))
                alias = alias or original
                if original in sets:
                    continue
                if original not in enums:
                    problems.append(f"{where}: imports {original}, which states.js does not export")
                    continue
                members = VOCABULARY["enums"][enums[original]]
                for member in re.findall(rf"\b{re.escape(alias)}\.(\w+)", source):
                    if member not in members:
                        problems.append(f"{where}: {alias}.{member} is not a member of {enums[original]}")
    assert not problems, "pages use states the vocabulary does not have:\n" + "\n".join(problems)


def test_every_state_a_page_names_in_words_has_words_in_both_languages():
    texts = console_texts()
    missing = [f"{language}: {prefix}.{value}" for language in LANGUAGES for prefix, enum in WORDS_FOR.items()
               for value in VOCABULARY["enums"][enum].values() if f"{prefix}.{value}" not in texts[language]]
    assert not missing, f"states with no words on the pages: {missing}"


def test_the_console_reads_the_vocabulary_the_models_define(api_server, sqlite_url):
    served = api_server(sqlite_url).get("/v1/vocabulary")
    assert served.status_code == 200, f"GET /v1/vocabulary without signing in: {served.status_code} {served.text}"
    assert served.json() == VOCABULARY, "the vocabulary served is not the models' own"
