"""backbone.forwarded: X-Forwarded-For is believed only from a configured trusted proxy."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.requests import Request

from backbone.forwarded import client_address, trusted_networks


def request(peer: str, trusted: str, *forwarded: str) -> Request:
    app = SimpleNamespace(state=SimpleNamespace(trusted_proxies=trusted_networks(trusted)))
    headers = [(b"x-forwarded-for", f.encode()) for f in forwarded]
    return Request({"type": "http", "client": (peer, 5000), "headers": headers, "app": app})


def test_no_trusted_proxy_means_the_peer_counts():
    assert client_address(request("10.0.0.5", "", "203.0.113.7")) == "10.0.0.5"


def test_an_untrusted_peer_s_header_is_ignored():
    assert client_address(request("198.51.100.1", "10.0.0.0/8", "203.0.113.7")) == "198.51.100.1"


def test_a_trusted_proxy_forwards_the_right_most_untrusted_hop():
    assert client_address(request("10.0.0.5", "10.0.0.0/8", "203.0.113.7")) == "203.0.113.7"
    # the client made up the first entry; our proxies wrote the last two
    assert client_address(request("10.0.0.5", "10.0.0.0/8",
                                  "1.2.3.4, 203.0.113.7, 10.0.0.9")) == "203.0.113.7"
    assert client_address(request("10.0.0.5", "10.0.0.5", "1.2.3.4", "203.0.113.8")) \
        == "203.0.113.8"


def test_a_trusted_proxy_without_or_with_a_garbled_header_counts_itself():
    assert client_address(request("10.0.0.5", "10.0.0.0/8")) == "10.0.0.5"
    assert client_address(request("10.0.0.5", "10.0.0.0/8", "not-an-address")) == "10.0.0.5"
    assert client_address(request("::1", "::1", "2001:db8::1")) == "2001:db8::1"


def test_a_malformed_trusted_proxy_setting_is_refused():
    with pytest.raises(ValueError, match="MINSHENG_TRUSTED_PROXIES"):
        trusted_networks("10.0.0.5, bogus")
