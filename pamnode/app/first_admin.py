"""The base tenant's first administrator, made on a node that is not serving yet (`pamnode
init`, `serve --admin-login`)."""

from pamnode.app.node import open_node
from pamnode.app.settings import Settings
from pamnode.core.errors import PamError
from pamnode.identity.tenants import init_base_admin


async def make_first_admin(settings: Settings, login: str, password: str) -> PamError | None:
    """Make the administrator, or say why not (`user_exists`: the node has one)."""
    node = await open_node(settings)
    try:
        async with node.database.begin() as db:
            await init_base_admin(db, login, password)
        return None
    except PamError as exc:
        return exc
    finally:
        await node.close()
