"""The 15 non-financial indicators (15项非财务指标, DOMAIN §1.1, §1.2) as a configurable questionnaire.

The exact items Changshu uses are not public [P]: :data:`DEFAULT_QUESTIONNAIRE` follows DOMAIN §1.2's suggested
list. A tenant or product may pass its own :class:`Questionnaire` (for instance from
:func:`questionnaire_from_dict` on product configuration); scoring only reads the definition.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any, Mapping

from ...errors import DomainError


@dataclasses.dataclass(frozen=True)
class Option:
    code: str
    label_zh: str
    label_en: str
    score: int
    #: Choosing it is a red flag the committee must see whatever the total.
    red_flag: bool = False


@dataclasses.dataclass(frozen=True)
class Indicator:
    code: str
    label_zh: str
    label_en: str
    options: tuple[Option, ...]
    weight: Decimal = Decimal(1)

    def option(self, code: str) -> Option | None:
        return next((o for o in self.options if o.code == code), None)

    @property
    def max_score(self) -> int:
        return max(o.score for o in self.options)


@dataclasses.dataclass(frozen=True)
class Questionnaire:
    code: str
    indicators: tuple[Indicator, ...]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self, dict_factory=lambda items: {
            k: str(v) if isinstance(v, Decimal) else v for k, v in items})


@dataclasses.dataclass(frozen=True)
class SoftScore:
    score: Decimal
    max_score: Decimal
    #: score / max_score, 0..1.
    ratio: Decimal
    unanswered: tuple[str, ...]
    red_flags: tuple[str, ...]
    answers: dict[str, str]


class QuestionnaireError(DomainError):
    """A questionnaire definition or an answer that does not fit it."""


def _opt(code: str, zh: str, en: str, score: int, red_flag: bool = False) -> Option:
    return Option(code, zh, en, score, red_flag)


_YEARS = (_opt("lt1", "不足1年", "Under 1 year", 0), _opt("1to3", "1–3年", "1–3 years", 1),
          _opt("3to5", "3–5年", "3–5 years", 2), _opt("gt5", "5年以上", "Over 5 years", 3))
_GOOD_FAIR_POOR = (_opt("good", "好", "Good", 2), _opt("fair", "一般", "Fair", 1), _opt("poor", "差", "Poor", 0))

#: DOMAIN §1.2's suggested 15 indicators, scored 0 (worst) to the option's top score.
DEFAULT_QUESTIONNAIRE = Questionnaire("ipc-15-v1", (
    Indicator("years_in_business", "从业年限", "Years in business", _YEARS),
    Indicator("years_at_location", "本地经营年限", "Years at this location", _YEARS),
    Indicator("premises_ownership", "经营场所权属", "Ownership of premises", (
        _opt("owned", "自有", "Owned", 2), _opt("long_lease", "长期租赁", "Long lease", 1),
        _opt("short_lease", "短期租赁或借用", "Short lease or borrowed", 0))),
    Indicator("marital_status", "婚姻状况", "Marital status", (
        _opt("married", "已婚", "Married", 2), _opt("single", "未婚", "Single", 1),
        _opt("divorced", "离异或丧偶", "Divorced or widowed", 1))),
    Indicator("dependants", "供养人口", "Dependants", (
        _opt("0to2", "2人及以下", "Two or fewer", 2), _opt("3to4", "3–4人", "Three or four", 1),
        _opt("5plus", "5人及以上", "Five or more", 0))),
    Indicator("local_hukou", "本地户籍", "Local household registration", (
        _opt("yes", "是", "Yes", 2), _opt("no", "否", "No", 0))),
    Indicator("reputation", "邻里及上下游口碑", "Reputation with neighbours and suppliers", _GOOD_FAIR_POOR),
    Indicator("record_keeping", "记账习惯", "Record-keeping habits", (
        _opt("books", "有完整记账", "Keeps books", 2), _opt("partial", "有部分单据", "Some records", 1),
        _opt("none", "无记录", "No records", 0))),
    Indicator("spouse_attitude", "配偶对贷款的态度", "Spouse's attitude to the loan", (
        _opt("supports", "支持并愿共同签字", "Supports and co-signs", 2), _opt("neutral", "知情", "Aware", 1),
        _opt("opposes", "反对或不知情", "Opposes or unaware", 0, True))),
    Indicator("health", "健康状况", "Health", _GOOD_FAIR_POOR),
    Indicator("other_family_income", "其他家庭收入", "Other family income", (
        _opt("stable", "稳定", "Stable", 2), _opt("irregular", "不稳定", "Irregular", 1),
        _opt("none", "无", "None", 0))),
    Indicator("purpose_plausibility", "借款用途合理性", "Plausibility of the purpose", (
        _opt("clear", "清晰合理", "Clear and plausible", 2), _opt("vague", "较模糊", "Vague", 1),
        _opt("implausible", "不合理", "Implausible", 0, True))),
    Indicator("bureau_history", "征信记录", "Credit-bureau history", (
        _opt("clean", "无逾期", "No arrears", 2), _opt("minor", "少量轻微逾期", "Minor arrears", 1),
        _opt("serious", "严重逾期", "Serious arrears", 0, True), _opt("none", "无记录", "No record", 1))),
    Indicator("litigation", "涉诉情况", "Litigation", (
        _opt("none", "无", "None", 2), _opt("settled", "已结案", "Settled", 1),
        _opt("pending", "未决诉讼或被执行", "Pending or enforcement", 0, True))),
    Indicator("red_flags", "赌博等不良嗜好", "Gambling or other red flags", (
        _opt("none", "未发现", "None found", 2), _opt("suspected", "有疑点", "Suspected", 0, True),
        _opt("confirmed", "已证实", "Confirmed", 0, True))),
))


def questionnaire_from_dict(data: Mapping[str, Any]) -> Questionnaire:
    """A questionnaire from configuration data (the shape :meth:`Questionnaire.as_dict` writes)."""
    try:
        indicators = tuple(
            Indicator(i["code"], i["label_zh"], i["label_en"],
                      tuple(Option(o["code"], o["label_zh"], o["label_en"], int(o["score"]),
                                   bool(o.get("red_flag", False))) for o in i["options"]),
                      Decimal(str(i.get("weight", 1))))
            for i in data["indicators"])
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise QuestionnaireError(f"questionnaire definition is malformed: {exc}") from exc
    codes = [i.code for i in indicators]
    if not indicators or len(set(codes)) != len(codes) or any(not i.options for i in indicators):
        raise QuestionnaireError("a questionnaire needs indicators with unique codes, each with options")
    return Questionnaire(str(data.get("code", "custom")), indicators)


def score_soft_information(questionnaire: Questionnaire, answers: Mapping[str, str]) -> SoftScore:
    """Σ weight × option score over the answered indicators, against Σ weight × best score over all of them."""
    unknown = [code for code in answers if code not in {i.code for i in questionnaire.indicators}]
    if unknown:
        raise QuestionnaireError(f"unknown indicator(s): {', '.join(sorted(unknown))}")
    score, best, unanswered, red_flags = Decimal(0), Decimal(0), [], []
    for indicator in questionnaire.indicators:
        best += indicator.weight * indicator.max_score
        chosen = answers.get(indicator.code)
        if not chosen:
            unanswered.append(indicator.code)
            continue
        option = indicator.option(chosen)
        if option is None:
            raise QuestionnaireError(f"{chosen!r} is not an option of {indicator.code}")
        score += indicator.weight * option.score
        if option.red_flag:
            red_flags.append(indicator.code)
    ratio = (score / best).quantize(Decimal("0.0001")) if best else Decimal(0)
    return SoftScore(score, best, ratio, tuple(unanswered), tuple(red_flags),
                     {k: v for k, v in answers.items() if v})
