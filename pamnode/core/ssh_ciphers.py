"""The SSH ciphers pamnode's own SSH speaks first, and why.

asyncssh runs the cipher of every packet from Python. Its chacha20-poly1305 builds two ChaCha20
ciphers and a Poly1305 for each packet: about 53 µs for a 32 KiB packet on the reference
machine, against 13 µs for AES-GCM (one AEAD call into OpenSSL) and 38 µs for aes128-ctr with
hmac-sha2-256-etm (asyncssh 2.24, cryptography 51; docs/proxy.md, "Speed"). OpenSSH itself
prefers chacha20-poly1305, then the CTR modes, then AES-GCM, and in SSH the client's order wins.
"""

from pamnode.core.ssh_library import asyncssh

AES_GCM = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def client_ciphers() -> list[str]:
    """As a client: AES-GCM first, then every other cipher asyncssh has, for servers without it."""
    others = [
        name.decode()
        for name in asyncssh.encryption.get_default_encryption_algs()
        if name.decode() not in AES_GCM
    ]
    return [*AES_GCM, *others]


# As a server (the SSH proxy): only AES-GCM, or an OpenSSH client would pick chacha20-poly1305
# or a CTR mode. Every OpenSSH since 6.2 and PuTTY since 0.76 speak it.
SERVER_CIPHERS = list(AES_GCM)
