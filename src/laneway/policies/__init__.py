"""Policies over routing decisions: declarative rules and hooks that allow, deny or replace.

Pure: compiled once from `policies:` in the config, judged per request (which
policies apply) and per candidate (which one denies it). No I/O here; the
engine calls hooks, under their time limits, and records what changed
(`engine/policy_review.py`). See docs/policies.md.
"""

from laneway.policies.policy import BudgetFacts, Policy
from laneway.policies.policy_set import (
    PolicySet,
    compile_policies,
    first_denial,
    needs_budget,
)
from laneway.policies.verdict import (
    Allow,
    Deny,
    HookVerdict,
    Replace,
    allow,
    as_verdict,
    deny,
    replace,
)

__all__ = [
    "Allow",
    "BudgetFacts",
    "Deny",
    "HookVerdict",
    "Policy",
    "PolicySet",
    "Replace",
    "allow",
    "as_verdict",
    "compile_policies",
    "deny",
    "first_denial",
    "needs_budget",
    "replace",
]
