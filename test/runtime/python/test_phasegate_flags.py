"""The Python reader against the specification's vectors (docs/flags-vectors.json) and its properties.

Run by test/runtime/python.test.ts (`npm test`), or alone: python3 -m unittest discover -s test/runtime/python
"""

import json
import os
import random
import sys
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "runtime" / "python"))

import phasegate_flags as pf  # noqa: E402

VECTORS = json.loads((ROOT / "docs" / "flags-vectors.json").read_text(encoding="utf-8"))


def context_kwargs(context):
    return {"role": context.get("role"), "roles": context.get("roles"), "user_id": context.get("userId")}


def expected_of(evaluation):
    out = {"enabled": evaluation.enabled, "reason": evaluation.reason}
    if evaluation.variable is not None:
        out["variable"] = evaluation.variable
    if evaluation.decided_by is not None:
        out["decidedBy"] = evaluation.decided_by
    if evaluation.bucket_units is not None:
        out["bucket"] = evaluation.bucket_units
    if evaluation.parent is not None:
        out["parentReason"] = evaluation.parent.reason
    return out


class Vectors(unittest.TestCase):
    def test_murmur3(self):
        for vector in VECTORS["murmur3"]:
            with self.subTest(input=vector["input"]):
                self.assertEqual(pf.murmur3(vector["input"]), vector["hash"])

    def test_buckets(self):
        for vector in VECTORS["buckets"]:
            with self.subTest(groupId=vector["groupId"], userId=vector["userId"]):
                h = pf.murmur3(vector["groupId"] + ":" + vector["userId"])
                self.assertEqual(h, vector["hash"])
                self.assertEqual(h % 100 + 1, vector["unleash"])
                self.assertEqual(pf.bucket_units(vector["groupId"], vector["userId"]), vector["bucket"])

    def test_percents(self):
        for vector in VECTORS["percents"]:
            with self.subTest(raw=vector["raw"]):
                self.assertEqual(pf.parse_percent(vector["raw"]), vector["units"])

    def test_evaluations(self):
        for vector in VECTORS["evaluations"]:
            with self.subTest(vector["name"]):
                result = pf.evaluate(vector["key"], env=vector["env"], **context_kwargs(vector["context"]))
                self.assertEqual(expected_of(result), vector["expected"])
                reader = pf.FlagReader(env=vector["env"], snapshot=True)
                self.assertEqual(reader.is_enabled(vector["key"], **context_kwargs(vector["context"])), vector["expected"]["enabled"])


class Properties(unittest.TestCase):
    IDS = ["user-%d" % i for i in range(10000)]

    def test_lone_surrogates_hash_as_replacement_characters(self):
        self.assertEqual(pf.murmur3("a\ud800b"), pf.murmur3("a\ufffdb"))

    def test_whole_percentages_agree_with_unleash(self):
        # Unleash: normalized = murmur3(groupId:userId) % 100 + 1, enabled when normalized <= percentage.
        for i, user in enumerate(self.IDS[:3000]):
            group = ("ux-update", "cohort-analyzer", "Feature.flexibleRollout.10")[i % 3]
            normalized = pf.murmur3(group + ":" + user) % 100 + 1
            units = pf.bucket_units(group, user)
            for percent in (0, 1, 10, 33, 50, 99, 100):
                self.assertEqual(units < percent * 1000, percent > 0 and normalized <= percent)

    def test_monotonic(self):
        rng = random.Random(7)
        for _ in range(2000):
            user = "u-%d" % rng.randrange(10**9)
            a, b = sorted(rng.randrange(100001) for _ in range(2))
            env_at = lambda units: {"FEAT_ENABLED": "true", "FEAT_ROLES": "*", "FEAT_PERCENT": "%d.%03d" % divmod(units, 1000)}
            if pf.is_enabled("feat", user_id=user, env=env_at(a)):
                self.assertTrue(pf.is_enabled("feat", user_id=user, env=env_at(b)))

    def test_uniform(self):
        deciles = [0] * 10
        thousandths = [0] * 10
        for user in self.IDS:
            units = pf.bucket_units("feat", user)
            deciles[units // 10000] += 1
            thousandths[(units % 1000) // 100] += 1
        for count in deciles + thousandths:
            self.assertLess(abs(count - 1000), 150)

    def test_defaults_to_os_environ(self):
        saved = dict(os.environ)
        try:
            os.environ.update({"PY_FEAT_ENABLED": "true", "PY_FEAT_ROLES": "pm", "PY_FEAT_PERCENT": "100"})
            self.assertTrue(pf.is_enabled("py-feat", role="pm"))
            reader = pf.FlagReader(snapshot=True)
            os.environ["PY_FEAT_ENABLED"] = "false"
            self.assertFalse(pf.is_enabled("py-feat", role="pm"))
            self.assertTrue(reader.is_enabled("py-feat", role="pm"))
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def test_custom_names(self):
        names = {"feat": pf.FlagNames("ON", "WHO", "SHARE", inverted=True)}
        env = {"ON": "false", "WHO": "admin", "SHARE": "100"}
        self.assertTrue(pf.is_enabled("feat", role="admin", env=env, flags=names))
        self.assertEqual(pf.evaluate("feat", role="admin", env=dict(env, ON="true"), flags=names).reason, "DISABLED")


class SameAnswersAsTypeScript(unittest.TestCase):
    """Cases written by the jest side from every shipped plan's phases (PHASEGATE_CROSS_CASES), when given."""

    def test_cases(self):
        path = os.environ.get("PHASEGATE_CROSS_CASES")
        if not path:
            self.skipTest("run from jest (test/runtime/python.test.ts)")
        cases = json.loads(Path(path).read_text(encoding="utf-8"))
        self.assertGreater(len(cases), 0)
        for case in cases:
            with self.subTest(case["name"]):
                result = pf.evaluate(case["key"], env=case["env"], **context_kwargs(case["context"]))
                self.assertEqual(expected_of(result), case["expected"])


if __name__ == "__main__":
    unittest.main()
