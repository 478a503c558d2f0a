"""Reading named parameters, with the seed API's exact spellings.

The hosted API these calls mirror is case-sensitive (``user_API_token``). A parameter sent in
another case is not silently ignored: the answer names the right spelling.
"""

from __future__ import annotations

from mailsift.api.body import Body
from mailsift.api.errors import ApiError

TOKEN = "user_API_token"  # noqa: S105 (a parameter name, not a secret)


def misspelled(body: Body, name: str) -> ApiError | None:
    """An error naming ``name``'s spelling when the body has it only in another case."""
    wrong = sorted(n for n in body.names() if n != name and n.lower() == name.lower())
    if not wrong:
        return None
    return ApiError(
        400,
        f"Unknown parameter {wrong[0]!r}: the parameter is spelled {name!r} "
        "(parameter names are case-sensitive).",
    )


def optional(body: Body, name: str, *, number: bool = False) -> str | None:
    """The parameter's one value, ``None`` when absent; repeated, it is an error.

    In a JSON body a text parameter may be a number or a boolean (taken as its text); one
    read with ``number`` must be a JSON number."""
    if name in body.unreadable:
        raise ApiError(400, f"The parameter {name} must be a string or a number.")
    if name in body.listed:
        raise ApiError(400, f"Give one {name} per request.")
    if number and body.from_json and name in body.fields and name not in body.numbers:
        raise ApiError(400, f"The parameter {name} must be a JSON number.")
    values = body.values(name)
    if not values:
        if error := misspelled(body, name):
            raise error
        return None
    if len(values) > 1:
        raise ApiError(400, f"Give one {name} per request.")
    return values[0].strip()


def required(body: Body, name: str) -> str:
    value = optional(body, name)
    if not value:
        raise ApiError(400, f"The parameter {name} is required.")
    return value


def token(body: Body) -> str:
    value = optional(body, TOKEN)
    if not value:
        raise ApiError(401, f"The parameter {TOKEN} is required: your API token.")
    return value


def bounded_number(
    body: Body, name: str, *, low: float, high: float, default: float | None = None
) -> float | None:
    """A number within [low, high] (422 outside, or when it is not a number)."""
    text = optional(body, name, number=True)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # also refuses NaN
        raise ApiError(422, f"{name} must be a number from {low:g} to {high:g}.")
    return value


_SWITCH_VALUES = {"true": True, "1": True, "false": False, "0": False}


def switch(body: Body, name: str) -> bool | None:
    """An optional ``true`` / ``false`` (or ``1`` / ``0``); anything else is a 400."""
    text = optional(body, name)
    if text is None or text == "":
        return None
    value = _SWITCH_VALUES.get(text.lower())
    if value is None:
        raise ApiError(400, f"{name} must be true or false, not {text[:40]!r}.")
    return value
