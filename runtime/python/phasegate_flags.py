"""Phasegate flag reader for Python Lambda functions: one module, standard library only.

Copy this file into your function. It reads the environment variables Phasegate writes (the feature's manifest
``PHASEGATE_MANIFEST_<FEATURE>`` names the others) and answers "is this feature on for this user?" exactly as the
TypeScript reader ``@phasegate/runtime`` does: same rules, same buckets (Unleash-compatible at whole
percentages), same test vectors. The specification is ``docs/flags-spec.md`` in the Phasegate repository.

Fail closed: a missing or unparseable variable means off, with the reason and the variable's name.

Example::

    from phasegate_flags import FlagReader

    flags = FlagReader(snapshot=True)  # once, at init

    def handler(event, context):
        user = {"roles": event["roles"], "user_id": event["userId"]}
        if flags.is_enabled("ux-update", **user):
            ...
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

__all__ = [
    "ALL_ROLES",
    "MANIFEST_PREFIX",
    "PERCENT_UNITS_MAX",
    "Evaluation",
    "FlagNames",
    "FlagReader",
    "bucket_of",
    "bucket_units",
    "env_prefix",
    "evaluate",
    "is_enabled",
    "manifest_variable",
    "murmur3",
    "parse_manifest",
    "parse_percent",
]

ALL_ROLES = "*"
SUB_FEATURE_SEPARATOR = "."
MANIFEST_PREFIX = "PHASEGATE_MANIFEST_"
MANIFEST_VERSION = 1
PERCENT_UNITS_PER_PERCENT = 1000
PERCENT_UNITS_MAX = 100 * PERCENT_UNITS_PER_PERCENT
DAILY_CAP_SUFFIX = "_DAILY_CAP_USD"

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_PERCENT = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_NOT_PREFIX = re.compile(r"[^A-Z0-9]+")
_MASK = 0xFFFFFFFF


# --- names -------------------------------------------------------------------------------------------------------


def env_prefix(flag_id: str) -> str:
    """``ux-update`` -> ``UX_UPDATE``: the prefix of a key's default variable names."""
    return _NOT_PREFIX.sub("_", flag_id.upper())


def manifest_variable(feature: str) -> str:
    """The variable holding a feature's manifest: ``ux-update`` -> ``PHASEGATE_MANIFEST_UX_UPDATE``."""
    return MANIFEST_PREFIX + env_prefix(feature)


@dataclass(frozen=True)
class FlagNames:
    """The three variables of one flag key. ``inverted``: the enabled variable is a kill switch."""

    enabled: str
    roles: str
    percent: str
    inverted: bool = False
    daily_cap: Optional[str] = None

    @staticmethod
    def defaults(key: str) -> "FlagNames":
        prefix = env_prefix(key)
        return FlagNames(prefix + "_ENABLED", prefix + "_ROLES", prefix + "_PERCENT", False, prefix + DAILY_CAP_SUFFIX)


def _name_field(entry: Mapping[str, object], field: str, default: str) -> Optional[str]:
    if field not in entry:
        return default
    value = entry[field]
    return value if isinstance(value, str) and _NAME.fullmatch(value) else None


def _parse_names(key: str, entry: Mapping[str, object]) -> Optional[FlagNames]:
    defaults = FlagNames.defaults(key)
    enabled, inverted = defaults.enabled, False
    if "e" in entry:
        value = entry["e"]
        if not isinstance(value, str):
            return None
        inverted = value.startswith("!")
        enabled = value[1:] if inverted else value
        if not _NAME.fullmatch(enabled):
            return None
    roles = _name_field(entry, "r", defaults.roles)
    percent = _name_field(entry, "p", defaults.percent)
    cap = _name_field(entry, "c", defaults.daily_cap or "")
    if roles is None or percent is None or cap is None:
        return None
    return FlagNames(enabled, roles, percent, inverted, cap)


def parse_manifest(feature: str, raw: str) -> Optional[dict]:
    """A manifest's names: ``{"": FlagNames of the feature, "<sub id>": FlagNames, ...}``; None when malformed."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    version = data.get("v")
    if isinstance(version, bool) or not isinstance(version, (int, float)) or version != MANIFEST_VERSION:
        return None
    names = _parse_names(feature, data)
    if names is None:
        return None
    result = {"": names}
    subs = data.get("s", {})
    if not isinstance(subs, dict):
        return None
    for sub_id, entry in subs.items():
        if not isinstance(entry, dict):
            return None
        sub_names = _parse_names(feature + SUB_FEATURE_SEPARATOR + sub_id, entry)
        if sub_names is None:
            return None
        result[SUB_FEATURE_SEPARATOR + sub_id] = sub_names
    return result


# --- buckets -----------------------------------------------------------------------------------------------------


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (from JSON "\ud800" escapes): U+FFFD, as JavaScript's TextEncoder writes them.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & _MASK


def _mix_k(k: int) -> int:
    k = (k * 0xCC9E2D51) & _MASK
    k = _rotl(k, 15)
    return (k * 0x1B873593) & _MASK


def murmur3(data, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit of ``data`` (bytes, or a str hashed as UTF-8). Unsigned."""
    if isinstance(data, str):
        data = _utf8(data)
    h = seed & _MASK
    length = len(data)
    blocks = length - length % 4
    for i in range(0, blocks, 4):
        h ^= _mix_k(int.from_bytes(data[i : i + 4], "little"))
        h = _rotl(h, 13)
        h = (h * 5 + 0xE6546B64) & _MASK
    tail = data[blocks:]
    if tail:
        h ^= _mix_k(int.from_bytes(tail, "little"))
    h ^= length
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    return h


def bucket_units(group_id: str, user_id: str) -> int:
    """The user's bucket for a group id (the flag key), 0 to 99999: inside a percentage when below its units."""
    h = murmur3(group_id + ":" + user_id)
    return (h % 100) * PERCENT_UNITS_PER_PERCENT + (h // 100) % PERCENT_UNITS_PER_PERCENT


def bucket_of(group_id: str, user_id: str) -> float:
    """The user's bucket in [0, 100) on a 0.001 grid; its whole part + 1 is Unleash's normalized value."""
    return bucket_units(group_id, user_id) / PERCENT_UNITS_PER_PERCENT


def parse_percent(raw: str) -> Optional[int]:
    """A percentage in thousandths of a percent (``"12.5"`` -> 12500), or None when it is not one."""
    match = _PERCENT.fullmatch(raw.strip())
    if match is None:
        return None
    fraction = match.group(2) or ""
    if any(d != "0" for d in fraction[3:]):
        return None
    units = int(match.group(1)) * PERCENT_UNITS_PER_PERCENT + int(fraction[:3].ljust(3, "0"))
    return units if units <= PERCENT_UNITS_MAX else None


# --- evaluation --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """Why a flag evaluated as it did; ``reason`` is one of the specification's reasons."""

    enabled: bool
    reason: str
    bucket_units: Optional[int] = None
    percent: Optional[float] = None
    variable: Optional[str] = None
    decided_by: Optional[str] = None
    parent: Optional["Evaluation"] = None

    @property
    def bucket(self) -> Optional[float]:
        return None if self.bucket_units is None else self.bucket_units / PERCENT_UNITS_PER_PERCENT


_ERRORS = ("MISSING_FLAGS", "INVALID_FLAGS", "MISSING_USER_ID")


def _names_for(key: str, env: Mapping[str, str], custom: Optional[Mapping[str, FlagNames]]):
    """The names of ``key``: the caller's, else the manifest's, else defaults. A str: the malformed manifest."""
    if custom and key in custom:
        return custom[key]
    separator = key.find(SUB_FEATURE_SEPARATOR)
    feature = key if separator == -1 else key[:separator]
    variable = manifest_variable(feature)
    raw = env.get(variable)
    if raw is None:
        return FlagNames.defaults(key)
    manifest = parse_manifest(feature, raw)
    if manifest is None:
        return variable
    entry = "" if separator == -1 else key[separator:]
    return manifest.get(entry) or FlagNames.defaults(key)


def _allowed(roles: set, role: Optional[str], user_roles: Optional[Iterable[str]]) -> bool:
    if role is not None and role in roles:
        return True
    return any(r in roles for r in (user_roles or ()))


def _evaluate_own(key, env, custom, role, roles, user_id) -> Evaluation:
    names = _names_for(key, env, custom)
    if isinstance(names, str):
        return Evaluation(False, "INVALID_FLAGS", variable=names)
    enabled_raw = env.get(names.enabled)
    if enabled_raw is None:
        return Evaluation(False, "MISSING_FLAGS", variable=names.enabled)
    switch = enabled_raw.strip().lower()
    if switch not in ("true", "false"):
        return Evaluation(False, "INVALID_FLAGS", variable=names.enabled)
    roles_raw = env.get(names.roles)
    if roles_raw is None:
        return Evaluation(False, "MISSING_FLAGS", variable=names.roles)
    percent_raw = env.get(names.percent)
    if percent_raw is None:
        return Evaluation(False, "MISSING_FLAGS", variable=names.percent)
    units = parse_percent(percent_raw)
    if units is None:
        return Evaluation(False, "INVALID_FLAGS", variable=names.percent)
    allowed = {r.strip() for r in roles_raw.split(",")} - {""}
    everyone = ALL_ROLES in allowed
    percent = units / PERCENT_UNITS_PER_PERCENT
    if (switch == "true") == names.inverted:
        return Evaluation(False, "DISABLED")
    if units == 0 or (not everyone and not allowed):
        return Evaluation(False, "DISABLED", percent=percent)
    if not everyone and not _allowed(allowed, role, roles):
        return Evaluation(False, "ROLE_NOT_ALLOWED")
    if units >= PERCENT_UNITS_MAX:
        return Evaluation(True, "ENABLED_FOR_ALL" if everyone else "TARGETED", percent=percent)
    if not user_id:
        return Evaluation(False, "MISSING_USER_ID", percent=percent)
    bucket = bucket_units(key, user_id)
    if bucket < units:
        return Evaluation(True, "INSIDE_PERCENT", bucket_units=bucket, percent=percent)
    return Evaluation(False, "OUTSIDE_PERCENT", bucket_units=bucket, percent=percent)


def evaluate(
    key: str,
    *,
    role: Optional[str] = None,
    roles: Optional[Iterable[str]] = None,
    user_id: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    flags: Optional[Mapping[str, FlagNames]] = None,
) -> Evaluation:
    """Evaluates a feature (``ux-update``) or sub-feature (``ux-update.llm-parsing``) for a user, with the reason.

    ``env`` defaults to ``os.environ``; ``flags`` maps flag keys to custom names (only for flags Phasegate does
    not manage: its manifest names the others).
    """
    env = os.environ if env is None else env
    roles = list(roles) if roles is not None else None
    separator = key.find(SUB_FEATURE_SEPARATOR)
    if separator != -1:
        parent_key = key[:separator]
        parent = _evaluate_own(parent_key, env, flags, role, roles, user_id)
        if parent.reason in _ERRORS:
            return Evaluation(False, parent.reason, parent.bucket_units, parent.percent, parent.variable, parent_key)
        if not parent.enabled:
            return Evaluation(False, "PARENT_DISABLED", parent=parent)
    return _evaluate_own(key, env, flags, role, roles, user_id)


def is_enabled(key: str, **kwargs) -> bool:
    """Whether a feature or sub-feature is on for a user: ``evaluate(key, **kwargs).enabled``. Fails closed."""
    return evaluate(key, **kwargs).enabled


class FlagReader:
    """A reader bound to one environment. ``snapshot=True`` copies it once (right for Lambda, whose environment
    never changes within an execution environment)."""

    def __init__(self, env: Optional[Mapping[str, str]] = None, flags=None, snapshot: bool = False):
        source = os.environ if env is None else env
        self._env = dict(source) if snapshot else source
        self._flags = flags

    def evaluate(self, key: str, *, role=None, roles=None, user_id=None) -> Evaluation:
        return evaluate(key, role=role, roles=roles, user_id=user_id, env=self._env, flags=self._flags)

    def is_enabled(self, key: str, *, role=None, roles=None, user_id=None) -> bool:
        return self.evaluate(key, role=role, roles=roles, user_id=user_id).enabled
