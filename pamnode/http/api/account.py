"""REST routes of a user's own login means: SSH public keys and the second factor (and an
administrator's view of other users' keys, the tenant's SSH user CAs, the reset of a factor,
the site's policy)."""

from fastapi import APIRouter, status

from pamnode.http.deps import DB, Caller, NodeDep
from pamnode.identity import second_factor, ssh_cas, ssh_keys
from pamnode.identity.schemas import (
    CodeIn,
    EnrolmentOut,
    RecoveryCodesOut,
    SecondFactorOut,
    SecondFactorPolicyIn,
    SshCaOut,
    SshKeyIn,
    SshKeyOut,
)

router = APIRouter()


@router.post("/account/ssh-keys", status_code=status.HTTP_201_CREATED, tags=["account"])
async def add_ssh_key(body: SshKeyIn, caller: Caller, db: DB) -> SshKeyOut:
    return SshKeyOut.model_validate(
        await ssh_keys.add_key(db, caller, body.public_key, body.comment)
    )


@router.get("/account/ssh-keys", tags=["account"])
async def list_own_ssh_keys(caller: Caller, db: DB) -> list[SshKeyOut]:
    _, keys = await ssh_keys.list_keys(db, caller)
    return [SshKeyOut.model_validate(key) for key in keys]


@router.delete(
    "/account/ssh-keys/{key_ref:path}", status_code=status.HTTP_204_NO_CONTENT, tags=["account"]
)
async def remove_own_ssh_key(key_ref: str, caller: Caller, db: DB) -> None:
    await ssh_keys.remove_key(db, caller, key_ref)


@router.get("/users/{login}/ssh-keys", tags=["users"])
async def list_ssh_keys(login: str, caller: Caller, db: DB) -> list[SshKeyOut]:
    _, keys = await ssh_keys.list_keys(db, caller, login)
    return [SshKeyOut.model_validate(key) for key in keys]


@router.delete(
    "/users/{login}/ssh-keys/{key_ref:path}", status_code=status.HTTP_204_NO_CONTENT, tags=["users"]
)
async def remove_ssh_key(login: str, key_ref: str, caller: Caller, db: DB) -> None:
    await ssh_keys.remove_key(db, caller, key_ref, login)


@router.post("/ssh-user-cas", status_code=status.HTTP_201_CREATED, tags=["users"])
async def add_ssh_user_ca(body: SshKeyIn, caller: Caller, db: DB) -> SshCaOut:
    return SshCaOut.model_validate(await ssh_cas.add_ca(db, caller, body.public_key, body.comment))


@router.get("/ssh-user-cas", tags=["users"])
async def list_ssh_user_cas(caller: Caller, db: DB) -> list[SshCaOut]:
    return [SshCaOut.model_validate(ca) for ca in await ssh_cas.list_cas(db, caller)]


@router.delete(
    "/ssh-user-cas/{ca_ref:path}", status_code=status.HTTP_204_NO_CONTENT, tags=["users"]
)
async def remove_ssh_user_ca(ca_ref: str, caller: Caller, db: DB) -> None:
    await ssh_cas.remove_ca(db, caller, ca_ref)


@router.get("/account/second-factor", tags=["account"])
async def read_second_factor(caller: Caller, db: DB) -> SecondFactorOut:
    found = await second_factor.status(db, caller)
    return SecondFactorOut(**found.__dict__)


@router.post("/account/second-factor", status_code=status.HTTP_201_CREATED, tags=["account"])
async def enrol_second_factor(caller: Caller, db: DB, node: NodeDep) -> EnrolmentOut:
    enrolment = await second_factor.begin_enrolment(db, node.keyring, caller)
    return EnrolmentOut(seed=enrolment.seed, uri=enrolment.uri)


@router.post("/account/second-factor/confirm", tags=["account"])
async def confirm_second_factor(
    body: CodeIn, caller: Caller, db: DB, node: NodeDep
) -> RecoveryCodesOut:
    codes = await second_factor.confirm_enrolment(db, node.keyring, caller, body.code)
    return RecoveryCodesOut(recovery_codes=codes)


@router.delete(
    "/users/{login}/second-factor", status_code=status.HTTP_204_NO_CONTENT, tags=["users"]
)
async def reset_second_factor(login: str, caller: Caller, db: DB) -> None:
    await second_factor.reset(db, caller, login)


@router.put("/second-factor-policy", tags=["sites"])
async def set_second_factor_policy(
    body: SecondFactorPolicyIn, caller: Caller, db: DB
) -> SecondFactorPolicyIn:
    await second_factor.set_required(db, caller, body.required)
    return body
