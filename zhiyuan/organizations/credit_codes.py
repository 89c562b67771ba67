"""The unified social credit code (统一社会信用代码, GB 32100-2015), checked against the kind.

python-stdnum (``stdnum.cn.uscc``) checks the length, the alphabet and the check character; this
module adds what Zhiyuan needs on top: the first two characters (registration authority and
entity type) must fit the kind of organisation declared, and every refusal says why.

Which prefixes each kind accepts (GB 32100-2015, table 1):

==========================  ================================================================
kind                        accepted prefixes
==========================  ================================================================
social group                51 (civil affairs, 社会团体)
social-service organisation 52 (civil affairs, 民办非企业单位 / 社会服务机构)
foundation                  53 (civil affairs, 基金会)
public institution          12 (public-institution registration, 事业单位)
enterprise volunteer team   91 (market regulation, 企业) — the host enterprise's code
school or university team   12 (a public school is a public institution) or 52 (a private
                            school is registered as a social-service organisation) — the
                            school's code
community grassroots team   none, or 51/52 when the team is itself registered; without a code
                            it names a sponsor
partner merchant            91, 92 (individual business, 个体工商户) or 93 (farmers' co-op)
==========================  ================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _
from stdnum import exceptions as stdnum_errors
from stdnum.cn import uscc

from zhiyuan.organizations.models import OrganizationKind

K = OrganizationKind
ACCEPTED_PREFIXES: dict[str, tuple[str, ...]] = {
    K.SOCIAL_GROUP: ("51",),
    K.SOCIAL_SERVICE: ("52",),
    K.FOUNDATION: ("53",),
    K.PUBLIC_INSTITUTION: ("12",),
    K.ENTERPRISE_TEAM: ("91",),
    K.SCHOOL_TEAM: ("12", "52"),
    K.COMMUNITY_TEAM: ("51", "52"),
    K.MERCHANT: ("91", "92", "93"),
}
# Kinds that must give a code. A community team may instead name a sponsor.
CODE_REQUIRED = frozenset(set(ACCEPTED_PREFIXES) - {K.COMMUNITY_TEAM})


def prefix_meaning(prefix: str) -> str:
    """What the first two characters say about the holder, in words."""
    meanings = {
        "11": _("a government body"),
        "12": _("a public institution"),
        "13": _("a body registered by the staffing office"),
        "51": _("a social group"),
        "52": _("a social-service organisation"),
        "53": _("a foundation"),
        "59": _("another civil-affairs registration"),
        "91": _("an enterprise"),
        "92": _("an individual business"),
        "93": _("a farmers' cooperative"),
    }
    return meanings.get(prefix, _("an entity of another type"))


class CreditCodeError(ValueError):
    """A refused code; ``code`` is stable for clients, the message says why in words."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class CreditCode:
    value: str

    @property
    def authority(self) -> str:
        return self.value[0]

    @property
    def prefix(self) -> str:
        return self.value[:2]

    @property
    def region(self) -> str:
        return self.value[2:8]


def credit_code_parse(raw: str) -> CreditCode:
    """Normalise and check the structure and check character; raise CreditCodeError."""
    value = uscc.compact(raw or "")
    if not value:
        raise CreditCodeError("empty", _("Enter the 18-character unified social credit code."))
    try:
        uscc.validate(value)
    except stdnum_errors.InvalidLength as exc:
        raise CreditCodeError(
            "length",
            _("A unified social credit code has 18 characters; this one has %(n)d.")
            % {"n": len(value)},
        ) from exc
    except stdnum_errors.InvalidFormat as exc:
        raise CreditCodeError(
            "format",
            _(
                "The first 8 characters are digits, and the rest are digits or capital letters "
                "other than I, O, Z, S and V."
            ),
        ) from exc
    except stdnum_errors.InvalidChecksum as exc:
        raise CreditCodeError(
            "checksum",
            _("The last character (the check character) does not match: the code is mistyped."),
        ) from exc
    return CreditCode(value)


def credit_code_check(raw: str, kind: str) -> CreditCode:
    """A valid code whose registration authority and entity type fit ``kind``."""
    code = credit_code_parse(raw)
    accepted = ACCEPTED_PREFIXES.get(kind, ())
    if code.prefix not in accepted:
        expected = ", ".join(f"{p} ({prefix_meaning(p)})" for p in accepted)
        raise CreditCodeError(
            "kind_mismatch",
            _(
                "This code starts with %(prefix)s, which is %(meaning)s; "
                "a %(kind)s's code starts with %(expected)s."
            )
            % {
                "prefix": code.prefix,
                "meaning": prefix_meaning(code.prefix),
                "kind": OrganizationKind(kind).label,
                "expected": expected,
            },
        )
    return code
