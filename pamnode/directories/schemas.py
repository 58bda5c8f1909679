"""Request and response bodies of Management > Directories; sizes bound what a request may
carry, and the bind password goes in only."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from pamnode.core.bodies import Patch, Strict

DirectoryName = Annotated[str, Field(min_length=1, max_length=63)]
Url = Annotated[str, Field(min_length=1, max_length=255)]
Dn = Annotated[str, Field(min_length=1, max_length=512)]
Filter = Annotated[str, Field(max_length=1024)]
Attribute = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z][A-Za-z0-9-]*$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{64}$")]
CaPem = Annotated[str, Field(min_length=1, max_length=65536)]
Secret = Annotated[str, Field(min_length=1, max_length=1024)]
# Active Directory's defaults, or OpenLDAP's inetOrgPerson/groupOfNames with memberOf.
Preset = Literal["active-directory", "openldap"]


class _Schema(Strict):
    """Where users and groups are and what their attributes are called; on create, what is
    left out is the preset's, on update it is kept."""

    user_filter: Filter | None = None
    group_filter: Filter | None = None
    login_attributes: Annotated[list[Attribute], Field(min_length=1, max_length=4)] | None = None
    first_name_attribute: Attribute | None = None
    last_name_attribute: Attribute | None = None
    mail_attribute: Attribute | None = None
    member_of_attribute: Attribute | None = None
    disabled_filter: Filter | None = None
    in_chain: bool | None = None


class DirectoryIn(_Schema):
    name: DirectoryName
    preset: Preset = "active-directory"
    url: Url
    server_sha256: Sha256 | None = None
    ca_pem: CaPem | None = None
    bind_dn: Dn
    bind_password: Secret
    user_base: Dn
    group_base: Dn
    enabled: bool = True


class DirectoryPatch(_Schema, Patch):
    nullable = frozenset({"server_sha256", "ca_pem"})

    url: Url | None = None
    server_sha256: Sha256 | None = None
    ca_pem: CaPem | None = None
    bind_dn: Dn | None = None
    bind_password: Secret | None = None
    user_base: Dn | None = None
    group_base: Dn | None = None
    enabled: bool | None = None


class DirectoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    # "local" for the tenant's own users, "ldap" for the rest (whose fields alone are set).
    kind: str = "ldap"
    url: str = ""
    server_sha256: str | None = None
    has_ca: bool = False
    bind_dn: str = ""
    user_base: str = ""
    group_base: str = ""
    user_filter: str = ""
    group_filter: str = ""
    login_attributes: list[str] = Field(default_factory=list)
    first_name_attribute: str = ""
    last_name_attribute: str = ""
    mail_attribute: str = ""
    member_of_attribute: str = ""
    disabled_filter: str = ""
    in_chain: bool = False
    enabled: bool = True
    created_at: datetime | None = None


class ConnectionIn(Strict):
    # A login to look up, with its resolved groups.
    user: Annotated[str, Field(min_length=1, max_length=256)] | None = None


class AccountOut(BaseModel):
    dn: str
    login: str
    first_name: str
    last_name: str
    mail: str
    disabled: bool
    groups: list[str]


class ConnectionOut(BaseModel):
    ok: bool
    code: str | None
    reason: str | None
    sha256: str | None
    users_seen: int | None
    groups_seen: int | None
    user: AccountOut | None


class DirectoryUserIn(Strict):
    login: Annotated[str, Field(min_length=1, max_length=256)]


class GroupGrantIn(Strict):
    # The group's common name, or its DN.
    group: Annotated[str, Field(min_length=1, max_length=512)]
    role: Annotated[str, Field(max_length=64)]


class GroupGrantOut(BaseModel):
    id: str
    group: str
    dn: str
    role: str
    created_at: datetime


class GroupAssetGrantIn(Strict):
    group: Annotated[str, Field(min_length=1, max_length=512)]
    asset: Annotated[str, Field(min_length=1, max_length=36)]
    role: Annotated[str, Field(max_length=64)]


class GroupAssetGrantOut(BaseModel):
    id: str
    group: str
    dn: str
    asset_id: str
    asset: str
    role: str
    created_at: datetime
