"""web/typed.py: handlers get parsed models, refusals name the field in the usual error shape, and what
a handler takes and answers is recorded for /openapi.json. A real aiohttp server on 127.0.0.1."""

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel

from greenchannel.inputs import ClientKey, QueryWhole, RequiredText
from store.money import Amount
from web.app import error_middleware
from web.common import json_response, public, requires
from web.typed import body, header, query, responds


class Ask(BaseModel):
    name: RequiredText(20)
    amount: Amount


class Page(BaseModel):
    limit: QueryWhole(1, 50) = 10


class Answer(BaseModel):
    name: str
    amount: str
    limit: int
    key: str | None


@public
@header("Idempotency-Key", ClientKey)
@query(Page)
@body(Ask)
@responds(Answer, status=201)
async def create(request: web.Request, body: Ask, query: Page, idempotency_key: str | None) -> web.Response:
    """Make one."""
    return json_response({"name": body.name, "amount": str(body.amount), "limit": query.limit,
                          "key": idempotency_key}, status=201)


def _exchange(*requests):
    """Serve `create` on 127.0.0.1 and send each (params, headers, raw body); the (status, JSON) answers."""

    async def run():
        app = web.Application(middlewares=[error_middleware])
        app.router.add_post("/things", create)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            answers = []
            for params, headers, data in requests:
                response = await client.post("/things", params=params, headers=headers, data=data)
                answers.append((response.status, await response.json()))
            return answers

    return asyncio.run(run())


def test_a_good_request_reaches_the_handler_parsed():
    [(status, answer)] = _exchange(({"limit": "5"}, {"Idempotency-Key": "k-1"}, '{"name": " Ann ", "amount": 12.5}'))
    assert status == 201, f"the handler's own status comes back: {status} {answer}"
    assert answer["name"] == "Ann", f"text is stripped: {answer}"
    assert answer["amount"] == "12.50", f"a JSON number is read as an exact Decimal amount: {answer}"
    assert answer["limit"] == 5, f"the query string is parsed into its model: {answer}"
    assert answer["key"] == "k-1", f"the header is handed over: {answer}"


def test_each_kind_of_refusal_is_a_400_naming_the_field():
    answers = _exchange(
        ({}, {}, '{"amount": "1"}'),
        ({}, {}, '{"name": "x", "amount": "1.001"}'),
        ({}, {}, '{"name": "x", "amount": 1e999}'),
        ({}, {}, '[1, 2]'),
        ({}, {}, '{"name": "x", "amount": ' + "9" * 5000 + '}'),
        ({"limit": "0"}, {}, '{"name": "x", "amount": "1"}'),
        ({"limit": "٣"}, {}, '{"name": "x", "amount": "1"}'),
        ({}, {"Idempotency-Key": "has space"}, '{"name": "x", "amount": "1"}'),
        ({}, {}, '{"name": "' + "n" * 21 + '", "amount": "1"}'),
    )
    fields = [(status, answer["error"]["field"]) for status, answer in answers]
    assert fields == [(400, "name"), (400, "amount"), (400, "amount"), (400, None), (400, "amount"), (400, "limit"),
                      (400, "limit"), (400, "Idempotency-Key"), (400, "name")], f"status and field named: {fields}"
    for _status, answer in answers:
        assert set(answer["error"]) == {"code", "message", "field"}, f"the usual error shape: {answer}"


def test_what_a_handler_takes_and_answers_is_recorded_through_requires():
    guarded = requires("adjuster")(create)
    assert guarded.haven_body is Ask, "the body model is recorded"
    assert guarded.haven_query is Page, "the query model is recorded"
    assert guarded.haven_headers["Idempotency-Key"]["required"] is False, "the optional header is recorded"
    assert guarded.haven_responses == {201: (Answer, None)}, f"the answer is recorded: {guarded.haven_responses}"
    assert guarded.haven_roles == ("adjuster",), "requires still records its roles"
