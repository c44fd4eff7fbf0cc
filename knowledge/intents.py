"""The intent names: a contract between the NLU, the knowledge base and evaluations."""

from __future__ import annotations

INTENTS: tuple[str, ...] = (
    "greet",
    "goodbye",
    "thanks",
    "minimum_wage",
    "wage_check",
    "unpaid_overtime",
    "salary_deductions",
    "fines_penalties",
    "passport_confiscation",
    "job_transfer",
    "dismissal_return",
    "harassment_violence",
    "work_injury",
    "pregnancy_rights",
    "paid_leave",
    "broker_debt",
    "support_contacts",
    "unpaid_wages",
    "leaving_employer",
    "visa_status",
    "skill_development_system",
    "social_insurance",
    "talk_to_human",
    "emergency",
    "out_of_scope",
)

#: Intents answered with UI strings, not knowledge entries.
UI_INTENTS: frozenset[str] = frozenset({"greet", "goodbye", "thanks", "out_of_scope"})

#: One topic per answerable intent.
TOPICS: tuple[str, ...] = tuple(i for i in INTENTS if i not in UI_INTENTS)

#: The trainee languages, in menu order.
LANGUAGES: tuple[str, ...] = ("vi", "id", "tl", "ja", "en")
