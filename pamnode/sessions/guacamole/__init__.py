"""The Guacamole protocol as pamnode speaks it: the codec (`protocol`), an instruction stream
over asyncio (`stream`) and the client side of guacd's handshake (`handshake`)."""
