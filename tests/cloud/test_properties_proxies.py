"""Properties of NO_PROXY as curl reads it: a name covers itself and its subdomains (any case, a
leading dot optional, with or without a port), never a host that merely ends with the same
letters, and `*` covers everything; NO_PROXY wins over --proxy."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdl.cloud.proxies import bypasses_proxy, proxy_for

labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)
hosts = st.lists(labels, min_size=1, max_size=4).map(".".join)
ports = st.integers(1, 65535)
others = st.lists(hosts, max_size=3)  # unrelated entries around the one that matters
spaces = st.text(alphabet=" ", max_size=2)


def _no_proxy(entry: str, before: list[str], after: list[str]) -> str:
    return ",".join([*before, entry, *after])


def _related(host: str, name: str) -> bool:
    return host == name or host.endswith("." + name)


def _spelled(name: str, upper: bool, dot: bool, pad: str) -> str:
    return f"{pad}{'.' if dot else ''}{name.upper() if upper else name}{pad}"


@settings(max_examples=80, deadline=None)
@given(hosts, st.lists(labels, max_size=2), st.booleans(), st.booleans(), spaces, others, others)
def test_a_name_covers_itself_and_its_subdomains(
    name: str,
    sub: list[str],
    upper: bool,
    dot: bool,
    pad: str,
    before: list[str],
    after: list[str],
) -> None:
    host = ".".join([*sub, name])
    no_proxy = _no_proxy(_spelled(name, upper, dot, pad), before, after)
    assert bypasses_proxy(host, None, no_proxy)
    assert bypasses_proxy(host, 443, no_proxy)


@settings(max_examples=120, deadline=None)
@given(hosts, hosts, st.one_of(st.none(), ports), st.booleans(), st.booleans())
def test_an_unrelated_name_never_covers_the_host(
    host: str, name: str, port: int | None, upper: bool, dot: bool
) -> None:
    cover = bypasses_proxy(host, port, _spelled(name, upper, dot, ""))
    assert cover is _related(host, name)


@settings(max_examples=80, deadline=None)
@given(hosts, labels)
def test_a_shared_ending_is_not_a_parent_domain(name: str, prefix: str) -> None:
    assert not bypasses_proxy(prefix + name, None, name)  # "ample.com" does not cover "example.com"


@settings(max_examples=80, deadline=None)
@given(hosts, ports, ports)
def test_a_port_in_the_entry_covers_that_port_only(name: str, port: int, asked: int) -> None:
    assert bypasses_proxy(name, asked, f"{name}:{port}") is (asked == port)


@settings(max_examples=50, deadline=None)
@given(st.one_of(hosts, st.ip_addresses().map(str)), st.one_of(st.none(), ports), others)
def test_a_star_covers_everything(host: str, port: int | None, before: list[str]) -> None:
    assert bypasses_proxy(host, port, _no_proxy("*", before, []))


@settings(max_examples=50, deadline=None)
@given(st.ip_addresses(v=6).map(str), st.booleans())
def test_an_ipv6_entry_covers_that_address_bracketed_or_not(address: str, brackets: bool) -> None:
    assert bypasses_proxy(address, 8443, f"[{address}]" if brackets else address)


@settings(max_examples=80, deadline=None)
@given(hosts, hosts, st.one_of(st.none(), ports), st.sampled_from(["http", "https"]))
def test_no_proxy_wins_over_the_proxy_flag(
    host: str, name: str, port: int | None, scheme: str
) -> None:
    url = f"{scheme}://{host.upper()}{f':{port}' if port else ''}/api/public/v1.0/groups"
    proxies = {"http": "http://p:1", "https": "http://p:2", "no": name}
    chosen = proxy_for(url, "http://explicit:3128", proxies)
    assert chosen == (None if _related(host, name) else "http://explicit:3128")
    assert proxy_for(url, None, proxies) == (None if _related(host, name) else proxies[scheme])
