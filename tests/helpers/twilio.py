"""Build inbound Twilio webhooks signed exactly as Twilio signs them."""

from __future__ import annotations

import secrets
from typing import Any

from twilio.request_validator import RequestValidator


def inbound_params(to: str, from_: str, body: str, **extra: str) -> dict[str, str]:
    sid = "SM" + secrets.token_hex(16)
    params = {"ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received",
              "Body": body, "To": to, "NumSegments": "1", "MessageSid": sid, "AccountSid": extra.pop("AccountSid", ""),
              "From": from_, "ApiVersion": "2010-04-01"}
    params.update(extra)
    return params


def signed(public_url: str, path: str, params: dict[str, str], auth_token: str) -> dict[str, Any]:
    """httpx keyword arguments for a POST that Twilio would have made."""
    signature = RequestValidator(auth_token).compute_signature(public_url + path, params)
    return {"data": params, "headers": {"X-Twilio-Signature": signature}}
