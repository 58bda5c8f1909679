"""The one rule for names that appear in URLs (tenants, sites)."""

import re

from pamnode.core.errors import InvalidInput

# The tenant that only manages tenants, and the site every tenant has.
BASE_TENANT = "base"
ROOT_SITE = "root"

URL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def check_url_name(kind: str, value: str) -> str:
    if not URL_NAME.fullmatch(value):
        raise InvalidInput(
            f"{kind} name '{value[:80]}' is not valid: use 1 to 63 lowercase letters, digits "
            "or '-', starting with a letter or digit",
            code=f"invalid_{kind}_name",
        )
    return value
