"""A QWeather-compatible Weather Alert API v1 on 127.0.0.1, for the tests.

It answers `GET /weatheralert/v1/current/{lat}/{lon}` the way the provider documents it: the coordinate
with at most two decimals (else 400 with the provider's v2 error body), authentication by `X-QW-Api-Key`
or an EdDSA JWT in `Authorization: Bearer` (verified with the registered public key: kid, sub, iat, exp;
else 401), and answers shaped like the provider's published examples (metadata.tag, zeroResult,
attributions, alerts[]) with an ETag so conditional requests get 304. Faults can be injected (429 for the
next N requests, with Retry-After). Every request is recorded.

It is a test double, not part of the product; it is packaged beside the Twilio one (devtools/).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field

from aiohttp import web

COORDINATE = re.compile(r"^-?\d{1,3}(\.\d{1,2})?$")
ATTRIBUTIONS = ["https://developer.qweather.com/attribution.html",
                "当前预警数据可能存在延迟或信息过时，以官方数据发布为准。"]
COLOURS = {"blue": (30, 50, 205), "yellow": (255, 255, 0), "orange": (255, 165, 0), "red": (255, 0, 0)}
COLOUR_NAMES = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}


def gale_warning(identifier: str, colour: str, issued: str, expires: str, *, code: str = "alert",
                 supersedes: list[str] | None = None, sender: str = "温州市气象台",
                 severity: str | None = None) -> dict:
    """A gale (大风) warning entry shaped like the provider's zh example."""
    red, green, blue = COLOURS[colour]
    verb = {"alert": "发布", "update": "更新", "cancel": "解除"}[code]
    return {
        "id": identifier, "senderName": sender, "issuedTime": issued,
        "messageType": {"code": code, "supersedes": list(supersedes or [])},
        "eventType": {"name": "大风", "code": "1006"},
        "urgency": None, "severity": severity, "certainty": None, "icon": "1006",
        "color": {"code": colour, "red": red, "green": green, "blue": blue, "alpha": 1},
        "effectiveTime": issued, "onsetTime": issued, "expireTime": expires,
        "headline": f"{sender}{verb}大风{COLOUR_NAMES[colour]}预警信号",
        "description": f"{sender}{verb}大风{COLOUR_NAMES[colour]}预警信号：预计未来24小时内将出现大风，请做好防范。",
        "criteria": "24小时内可能受大风影响，平均风力可达8级以上。",
        "responseTypes": [], "instruction": "关好门窗，加固搭建物，妥善安置室外物品。",
    }


def error_body(status: int, title: str, detail: str, invalid: list[str] | None = None) -> dict:
    error = {"status": status, "type": f"https://dev.qweather.com/docs/resource/error-code/#{title.lower()}",
             "title": title, "detail": detail}
    if invalid:
        error["invalidParams"] = invalid
    return {"error": error}


@dataclass
class QWeatherServer:
    api_key: str | None = None
    jwt_public_key: bytes | None = None  # PEM; with jwt_key_id and jwt_project_id
    jwt_key_id: str | None = None
    jwt_project_id: str | None = None
    alerts: dict[tuple[str, str], list[dict]] = field(default_factory=dict)  # ("28.07", "120.51") -> entries
    status_429_next: int = 0
    retry_after_s: int = 60
    requests: list[dict] = field(default_factory=list)
    base: str = ""

    def set_alerts(self, lat: float, lon: float, entries: list[dict]) -> None:
        self.alerts[(f"{lat:.2f}", f"{lon:.2f}")] = list(entries)

    def hits(self) -> int:
        return len(self.requests)

    def _authorised(self, request: web.Request) -> bool:
        key = request.headers.get("X-QW-Api-Key")
        bearer = request.headers.get("Authorization", "")
        if key is not None and bearer:
            return False  # the provider: do not use two authentication methods at once
        if key is not None:
            return self.api_key is not None and key == self.api_key
        if bearer.startswith("Bearer ") and self.jwt_public_key is not None:
            import jwt

            token = bearer.removeprefix("Bearer ")
            try:
                header = jwt.get_unverified_header(token)
                claims = jwt.decode(token, self.jwt_public_key, algorithms=["EdDSA"],
                                    options={"require": ["sub", "iat", "exp"]})
            except jwt.PyJWTError:
                return False
            return header.get("kid") == self.jwt_key_id and claims.get("sub") == self.jwt_project_id
        return False

    async def handle(self, request: web.Request) -> web.Response:
        lat, lon = request.match_info["lat"], request.match_info["lon"]
        self.requests.append({"lat": lat, "lon": lon, "query": dict(request.query),
                              "headers": dict(request.headers)})
        if self.status_429_next > 0:
            self.status_429_next -= 1
            return web.json_response(error_body(429, "Too Many Requests", "Exceeded the QPM limit"), status=429,
                                     headers={"Retry-After": str(self.retry_after_s)},
                                     content_type="application/problem+json")
        if not self._authorised(request):
            return web.json_response(error_body(401, "Unauthorized", "Authentication failed"), status=401,
                                     content_type="application/problem+json")
        bad = [name for name, value in (("latitude", lat), ("longitude", lon)) if not COORDINATE.match(value)]
        if bad:
            return web.json_response(error_body(400, "Invalid Parameters", "Invalid parameters", bad), status=400,
                                     content_type="application/problem+json")
        entries = self.alerts.get((f"{float(lat):.2f}", f"{float(lon):.2f}"), [])
        tag = hashlib.sha256(json.dumps(entries, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        etag = f'"{tag[:32]}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        answer = {"metadata": {"tag": tag, "zeroResult": not entries, "attributions": ATTRIBUTIONS},
                  "alerts": entries}
        return web.json_response(answer, headers={"ETag": etag}, dumps=lambda d: json.dumps(d, ensure_ascii=False))


class Running:
    """Serve a QWeatherServer on 127.0.0.1 in a background thread until close()."""

    def __init__(self, server: QWeatherServer):
        self.server = server
        self.loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/weatheralert/v1/current/{lat}/{lon}", server.handle)
        self.runner = web.AppRunner(app)
        ready = threading.Event()

        async def start():
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            server.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
            ready.set()

        self.thread = threading.Thread(target=lambda: (self.loop.run_until_complete(start()), self.loop.run_forever()),
                                       daemon=True)
        self.thread.start()
        if not ready.wait(20):
            raise RuntimeError("the QWeather-compatible server did not start")

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(20)
