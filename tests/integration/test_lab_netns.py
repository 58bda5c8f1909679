"""The lab's network namespaces: a root-side address a leftover lab still holds is refused
with a message that names it, instead of a connection refused later by nobody's node."""

import pytest

from pamnode.lab.netns import Netns, link

ROOT_ADDR, NS_ADDR = "10.77.98.1", "10.77.98.2"


def test_an_address_a_leftover_namespace_holds_is_refused_and_free_once_it_is_gone() -> None:
    leftover, ours = Netns().create(), Netns().create()
    try:
        held_if, _ = link(None, ROOT_ADDR, leftover, NS_ADDR)
        with pytest.raises(RuntimeError, match=f"{ROOT_ADDR} is already on {held_if}"):
            link(None, ROOT_ADDR, ours, NS_ADDR)
        # A namespace just deleted lets its address go a moment later: no error then.
        leftover.delete()
        link(None, ROOT_ADDR, ours, NS_ADDR)
    finally:
        leftover.delete()
        ours.delete()
