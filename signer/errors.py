"""The one exception type of the signer package."""


class SigningInputError(TypeError):
    """A value given for signing is not a ``str``, or is malformed.

    ``field`` names the parameter and ``value`` is its repr, so the caller can see
    which argument was wrong without the signer echoing a ticket.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.reason = reason
        self.value_type = type(value).__name__
        super().__init__(f"{field}: {reason} (got a {self.value_type})")


def require_text(field: str, value: object) -> str:
    """Return ``value`` unchanged if it is a ``str``, else raise ``SigningInputError``."""
    if not isinstance(value, str):
        raise SigningInputError(field, value, "must be a str; convert it before signing")
    return value


def optional_text(field: str, value: object) -> str:
    """Return ``value`` as text, with ``None`` standing for an absent value (empty string)."""
    if value is None:
        return ""
    return require_text(field, value)
