"""The Alibaba Cloud-compatible server for the tests, with the template mapping of config/.env.example."""

from __future__ import annotations

import pytest

from devtools.aliyun_compatible import AliyunCompatible, RunningServer, default_templates

ACCESS_KEY_ID = "LTAI5tHavenTestKey0001"
ACCESS_KEY_SECRET = "q8Zs2mWcYv4Kx7Np1Rt6Bd3Hf9Lj0G"
SIGN_NAME = "海文保险"
REPORT_TOKEN = "r3p0rt-t0ken-for-the-tests-only"
WARNING_FACTS = ["hazard", "level", "place", "hotline"]
TEMPLATES = {
    "warning": {"zh-CN": {"code": "SMS_900000001", "params": WARNING_FACTS},
                "en": {"code": "SMS_900000002", "params": WARNING_FACTS}},
    "escalation": {"zh-CN": {"code": "SMS_900000003", "params": WARNING_FACTS},
                   "en": {"code": "SMS_900000004", "params": WARNING_FACTS}},
    "all_clear": {"zh-CN": {"code": "SMS_900000005", "params": ["hazard", "place"]},
                  "en": {"code": "SMS_900000006", "params": ["hazard", "place"]}},
    "sign_in_code": {"zh-CN": {"code": "SMS_900000007", "params": ["code"]},
                     "en": {"code": "SMS_900000008", "params": ["code"]}},
    "reply_claim": {"zh-CN": {"code": "SMS_900000009", "params": ["link_token"]},
                    "en": {"code": "SMS_900000010", "params": ["link_token"]}},
}


class AliyunServer:
    def __init__(self, report_url: str | None = None):
        self.provider = AliyunCompatible(ACCESS_KEY_ID, ACCESS_KEY_SECRET, {SIGN_NAME}, default_templates(),
                                         report_url)
        self._server = RunningServer(self.provider.app())
        self.base_url = self._server.base_url

    @property
    def faults(self):
        return self.provider.faults

    def env(self) -> dict[str, str]:
        import json

        return {"HAVEN_SMS_CHANNEL": "aliyun", "HAVEN_ALIYUN_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "HAVEN_ALIYUN_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET, "HAVEN_ALIYUN_SIGN_NAME": SIGN_NAME,
                "HAVEN_ALIYUN_TEMPLATES": json.dumps(TEMPLATES), "HAVEN_ALIYUN_ENDPOINT": self.base_url,
                "HAVEN_ALIYUN_REPORT_TOKEN": REPORT_TOKEN}

    def stop(self):
        self._server.stop()


@pytest.fixture(name="aliyun_server")
def aliyun_server_fixture():
    """An Alibaba Cloud SMS-compatible server on 127.0.0.1 for one test."""
    server = AliyunServer()
    yield server
    server.stop()
