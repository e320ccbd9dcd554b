"""A link emulator: hosts in network namespaces joined by a userspace forwarder that moves
their real IP packets through TUN devices after a delay, with jitter, random loss and a rate
limit (this kernel has no ``netem`` qdisc). TCP retransmits and QUIC recovers over it as on
a real link. Needs root, iproute2 and ``/dev/net/tun``; :func:`available` says why not.

    with Network(["client", "server"], work_dir, default=LinkSpec(delay_ms=10)) as net:
        server = Child(net.argv("server", ["python", "-m", "http.server", "--bind",
                                           net.address("server"), "8000"]))
        net.set_link("client", "server", LinkSpec(delay_ms=10, loss=0.02))
"""

from bazaar.netem._network import Network, available, sweep_stale
from bazaar.netem._spec import LinkSpec, NetemError

__all__ = ["LinkSpec", "NetemError", "Network", "available", "sweep_stale"]
