"""Encryption at rest for secrets (market credentials, secret install values).

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`. The key comes from
FIELD_ENCRYPTION_KEY, or is derived from SECRET_KEY when that is unset: rotating
SECRET_KEY then makes stored secrets unreadable, so production sets its own key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class DecryptionFailed(Exception):
    pass


@lru_cache(maxsize=4)
def _fernet(key_material: str) -> Fernet:
    if getattr(settings, "FIELD_ENCRYPTION_KEY", ""):
        return Fernet(settings.FIELD_ENCRYPTION_KEY.encode())
    digest = hashlib.sha256(b"ops-market-field-encryption:" + key_material.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_json(value: Any) -> str:
    payload = json.dumps(value, sort_keys=True).encode()
    return _fernet(settings.SECRET_KEY).encrypt(payload).decode()


def decrypt_json(token: str) -> Any:
    if not token:
        return None
    try:
        return json.loads(_fernet(settings.SECRET_KEY).decrypt(token.encode()))
    except InvalidToken:
        raise DecryptionFailed("stored secret cannot be decrypted with the current key") from None
