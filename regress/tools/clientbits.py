# clientbits.py: what the load tools (load.py, hold.py) share.
import resource, ssl

def raise_nofile():
    """Take the whole descriptor limit the process may have."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def hello_bytes(name):
    """The bytes of a real ClientHello for name, from Python's ssl."""
    ctx = ssl.create_default_context()
    inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inb, outb, server_hostname=name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outb.read()
