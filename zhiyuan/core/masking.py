"""How personal values look by default: masked, in every page, response, export and log."""

from __future__ import annotations


def mask_phone(phone: str | None) -> str:
    """``13812341234`` → ``138****1234``."""
    if not phone:
        return ""
    digits = phone[-11:] if len(phone) >= 11 else phone
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def mask_id_number(number: str | None) -> str:
    """``11010519491231002X`` → ``110105********002X``; other documents keep 2 + 2 characters."""
    if not number:
        return ""
    if len(number) == 18:
        return f"{number[:6]}{'*' * 8}{number[-4:]}"
    if len(number) <= 4:
        return "*" * len(number)
    return f"{number[:2]}{'*' * (len(number) - 4)}{number[-2:]}"


def mask_name(name: str | None) -> str:
    """``张三丰`` → ``张**``: the family name alone, for public views."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def mask_address(address: str | None) -> str:
    """Keep the first six characters (district and street), hide the rest."""
    if not address:
        return ""
    return address[:6] + ("…" if len(address) > 6 else "")
