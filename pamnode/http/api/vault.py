"""REST routes of the vault: the tenant key's state, a full decryption check, rotation."""

from fastapi import APIRouter
from pydantic import BaseModel

from pamnode.http.deps import DB, Caller, NodeDep
from pamnode.vault import rotation

router = APIRouter(prefix="/vault", tags=["vault"])


class CensusOut(BaseModel):
    active_version: int
    key_versions: list[int]
    # Sealed values of the tenant per key version that seals them.
    sealed_values: dict[int, int]
    # Where values do not decrypt (row and field, never content); only from verify.
    unreadable: list[str] | None = None


class RotationOut(BaseModel):
    version: int
    resealed: dict[str, int]
    passes: int
    dropped_versions: list[int]


@router.get("")
async def vault_status(caller: Caller, db: DB, node: NodeDep) -> CensusOut:
    found = await rotation.census(db, node.keyring, caller, verify=False)
    return CensusOut(
        active_version=found.active_version,
        key_versions=found.key_versions,
        sealed_values=found.by_version,
    )


@router.post("/verify")
async def vault_verify(caller: Caller, db: DB, node: NodeDep) -> CensusOut:
    found = await rotation.census(db, node.keyring, caller, verify=True)
    return CensusOut(
        active_version=found.active_version,
        key_versions=found.key_versions,
        sealed_values=found.by_version,
        unreadable=found.unreadable,
    )


@router.post("/rotate")
async def vault_rotate(caller: Caller, db: DB, node: NodeDep) -> RotationOut:
    report = await rotation.rotate(db, node.database, node.keyring, caller)
    return RotationOut(
        version=report.version,
        resealed=report.resealed,
        passes=report.passes,
        dropped_versions=report.dropped,
    )
