"""Who counts as one client for the per-client limits (``api.client_keys``)."""

from __future__ import annotations

import pytest

from api.client_keys import client_key


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),  # IPv4 reaching a dual-stack socket: the same client
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # same /64, same client
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),  # the next /64: another client
        ("::1", "::/64"),
        ("fe80::1%eth0", "fe80::/64"),  # a zone index is not part of the address
        ("", ""),  # no peer (a Unix socket): as it is
        ("/run/geokb.sock", "/run/geokb.sock"),
    ],
)
def test_a_client_is_an_ipv4_address_or_an_ipv6_slash_64(address: str, key: str) -> None:
    assert client_key(address) == key


def test_every_address_of_one_ipv6_host_counts_as_one_client() -> None:
    # a host given 2001:db8:0:1::/64 may pick any of its 2^64 addresses for each connection
    keys = {client_key(f"2001:db8:0:1:{i:x}:{i * 7:x}::{i:x}") for i in range(1, 500)}
    assert keys == {"2001:db8:0:1::/64"}
