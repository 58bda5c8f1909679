"""Request and response bodies of the identity API; sizes bound what a request may carry."""

from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pamnode.core.bodies import Patch, Strict

Name = Annotated[str, Field(min_length=1, max_length=63)]
Login = Annotated[str, Field(min_length=1, max_length=128)]
Password = Annotated[str, Field(min_length=1, max_length=256)]
PersonName = Annotated[str, Field(max_length=128)]


# A TOTP code or a recovery code (with its dashes).
SecondFactorCode = Annotated[str, Field(min_length=1, max_length=32)]


class LoginIn(Strict):
    login: Login
    password: Password
    # Needed when the site requires a second factor or the user has enrolled one.
    code: SecondFactorCode | None = None


class LoginOut(BaseModel):
    token: str
    expires_at: datetime


class TenantIn(Strict):
    name: Name
    issuer: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    admin_login: Login
    admin_password: Password


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    issuer: str
    created_at: datetime


class SiteIn(Strict):
    name: Name


class SiteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    created_at: datetime


# Days a site keeps evidence; None keeps it for ever. At most a hundred years.
RetentionDays = Annotated[int, Field(ge=1, le=36500)] | None


class SiteSettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    recording_retention_days: int | None
    job_output_retention_days: int | None


class SiteSettingsPatch(Patch):
    # null: keep for ever.
    nullable: ClassVar[frozenset[str]] = frozenset(
        {"recording_retention_days", "job_output_retention_days"}
    )

    recording_retention_days: RetentionDays = None
    job_output_retention_days: RetentionDays = None


class UserIn(Strict):
    login: Login
    first_name: PersonName = ""
    last_name: PersonName = ""
    mail: Annotated[str, Field(max_length=254)] = ""
    password: Password
    locked: bool = False


class UserPatch(Patch):
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    mail: Annotated[str, Field(max_length=254)] | None = None
    password: Password | None = None
    locked: bool | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    login: str
    first_name: str
    last_name: str
    mail: str
    locked: bool
    # A directory user's entry in its directory (docs/directories.md); None for a local user.
    directory_dn: str | None = None
    created_at: datetime


class GrantIn(Strict):
    principal: Login
    role: Annotated[str, Field(max_length=64)]


class GrantOut(BaseModel):
    id: str
    principal: str
    role: str
    created_at: datetime


class ApiTokenIn(Strict):
    user: Login
    expires_at: AwareDatetime
    filter: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=64)] = Field(
        default_factory=list
    )
    description: Annotated[str, Field(max_length=1024)] = ""
    enabled: bool = True


class ApiTokenPatch(Patch):
    filter: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=64)] | None = (
        None
    )
    description: Annotated[str, Field(max_length=1024)] | None = None
    enabled: bool | None = None


class ApiTokenOut(BaseModel):
    id: str
    user: str
    description: str
    filter: list[str]
    expires_at: datetime
    enabled: bool
    locked: bool
    created_by: str
    created_at: datetime
    # Present only while the token is unlocked.
    jwt: str | None = None


class JwtOut(BaseModel):
    jwt: str


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    tenant: str
    site: str
    actor: str
    action: str
    target: str
    outcome: str
    source: str
    details: dict[str, object]


class SshKeyIn(Strict):
    # One authorized_keys line: "<algorithm> <base64> [comment]".
    public_key: Annotated[str, Field(min_length=1, max_length=16384)]
    # Replaces the line's own comment when given.
    comment: Annotated[str, Field(max_length=255)] = ""


class SshKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    algorithm: str
    fingerprint: str
    comment: str
    public_key: str
    created_at: datetime
    last_used_at: datetime | None


class SshCaOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    algorithm: str
    fingerprint: str
    comment: str
    public_key: str
    created_by: str
    created_at: datetime


class SecondFactorOut(BaseModel):
    enrolled: bool
    confirmed: bool
    recovery_codes_left: int
    # Whether the caller's site requires a second factor of its logins.
    required_here: bool


class EnrolmentOut(BaseModel):
    # The seed, for typing into an app; the URI, for a QR code.
    seed: str
    uri: str


class CodeIn(Strict):
    code: SecondFactorCode


class RecoveryCodesOut(BaseModel):
    # Shown this once: only their hashes are kept.
    recovery_codes: list[str]


class SecondFactorPolicyIn(Strict):
    required: bool
