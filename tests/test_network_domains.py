"""Host normalisation, domain patterns (spec 7.4), address classification
(spec 7.2 step 3) and the decision pipeline without sockets: tables for every
documented case, properties for the invariants."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator, Mapping, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execguard.execpolicy import Policy
from execguard.sandbox.network import (
    GLOBAL_WILDCARD_DENY_ERROR,
    BlockedRequest,
    DomainPatternError,
    DomainPolicy,
    NetworkPolicy,
    NetworkRequest,
    Verdict,
    is_non_public_address,
    normalize_host,
    proxy_environment,
)
from execguard.sandbox.network.addresses import resolve
from execguard.sandbox.network.decision import proxy_error_header
from execguard.sandbox.network.domains import DomainPattern, PatternKind

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# -- normalisation -----------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("example.com", "example.com"),
    ("  Example.COM  ", "example.com"),
    ("example.com.", "example.com"),
    ("example.com...", "example.com"),
    ("example.com:443", "example.com"),
    ("EXAMPLE.com.:8080", "example.com"),
    ("[::1]", "::1"),
    ("[::1]:443", "::1"),
    ("::1", "::1"),  # two colons: a bare IPv6 literal, no port stripped
    ("0:0:0:0:0:0:0:1", "::1"),  # canonical form, so spellings cannot dodge a list
    ("[FE80::1%25lo0]", "fe80::1%lo0"),
    ("fe80::1%25eth0", "fe80::1%eth0"),
    ("fe80::1%eth0", "fe80::1%eth0"),
    ("::FFFF:7F00:1", "::ffff:127.0.0.1"),
    ("127.0.0.1", "127.0.0.1"),
    ("127.0.0.1:80", "127.0.0.1"),
    ("localhost.", "localhost"),
    ("", ""),
    ("   ", ""),
    ("[example.com]", ""),  # brackets only ever hold an IP literal
    ("a:b:c", "a:b:c"),  # not an address, not host:port: left alone
    ("bücher.de", "bücher.de"),  # only ASCII is case-folded, as in the reference
    ("BÜCHER.DE", "bÜcher.de"),
])
def test_normalize_host(raw: str, expected: str) -> None:
    assert normalize_host(raw) == expected


@SETTINGS
@given(st.text(max_size=60))
def test_normalization_is_idempotent(raw: str) -> None:
    once = normalize_host(raw)
    assert normalize_host(once) == once


hostish = st.text(alphabet="abcXYZ019.-:[]%*? \t", max_size=30)


@SETTINGS
@given(hostish)
def test_normalization_is_idempotent_on_host_like_text(raw: str) -> None:
    once = normalize_host(raw)
    assert normalize_host(once) == once


# -- patterns ----------------------------------------------------------------

PATTERN_TABLE: list[tuple[str, list[str], list[str]]] = [
    # pattern, matches, does not match
    ("example.com", ["example.com", "EXAMPLE.COM", "example.com.", "example.com:443"],
     ["www.example.com", "example.org", "notexample.com", "example.com.evil"]),
    ("Example.COM.", ["example.com"], ["api.example.com"]),
    ("*.example.com", ["api.example.com", "a.b.example.com", "API.Example.Com."],
     ["example.com", "notexample.com", "example.com.evil"]),
    ("*.Example.COM.", ["api.example.com"], ["example.com"]),
    ("**.example.com", ["example.com", "api.example.com", "a.b.example.com"],
     ["notexample.com", "example.org"]),
    ("region*.v2.example.com",
     ["region1.v2.example.com", "region.v2.example.com", "REGION9.v2.example.com"],
     ["xregion1.v2.example.com", "foo.region1.v2.example.com", "region1.v3.example.com"]),
    ("host?.example.com", ["host1.example.com"], ["host.example.com", "host12.example.com"]),
    ("*", ["example.com", "127.0.0.1", "::1", "localhost"], [""]),
    ("[::1]", ["::1", "[::1]", "0::1", "[::1]:8080"], ["::2", "127.0.0.1"]),
    ("[fe80::1%25lo0]", ["fe80::1%lo0", "[fe80::1%25lo0]"], ["fe80::1%lo1", "fe80::1"]),
    ("127.0.0.1", ["127.0.0.1", "127.0.0.1:80"], ["127.0.0.2", "127.1"]),
    ("localhost", ["localhost", "LOCALHOST.", "localhost:3000"], ["notlocalhost", "a.localhost"]),
]


@pytest.mark.parametrize(("pattern", "hits", "misses"), PATTERN_TABLE)
def test_pattern_table(pattern: str, hits: list[str], misses: list[str]) -> None:
    policy = DomainPolicy(allowed=[pattern])
    for host in hits:
        assert policy.is_allowed(host), (pattern, host)
    for host in misses:
        assert not policy.is_allowed(host), (pattern, host)
    if pattern != "*":  # the same pattern denies the same hosts
        deny = DomainPolicy(denied=[pattern])
        assert [deny.is_denied(h) for h in hits + misses] == (
            [True] * len(hits) + [False] * len(misses))


@pytest.mark.parametrize(("pattern", "kind", "text"), [
    ("example.com", PatternKind.EXACT, "example.com"),
    ("*.Example.com.", PatternKind.SUBDOMAINS, "*.example.com"),
    ("**.example.com", PatternKind.APEX_AND_SUBDOMAINS, "**.example.com"),
    ("region*.v2.example.com", PatternKind.GLOB, "region*.v2.example.com"),
    ("*", PatternKind.ANY, "*"),
    ("[::1]", PatternKind.EXACT, "::1"),
    ("[fe80::1%25lo0]", PatternKind.EXACT, "fe80::1%lo0"),
    ("example.com:443", PatternKind.EXACT, "example.com"),
])
def test_pattern_kinds(pattern: str, kind: PatternKind, text: str) -> None:
    parsed = DomainPattern.parse(pattern)
    assert (parsed.kind, parsed.text) == (kind, text)


def test_global_wildcard_is_refused_in_the_deny_list_with_the_reference_message() -> None:
    with pytest.raises(DomainPatternError) as info:
        DomainPolicy(denied=["*"])
    assert str(info.value) == (
        'unsupported global wildcard domain pattern "*"; use exact hosts or scoped '
        "wildcards like *.example.com or **.example.com")
    assert str(info.value) == GLOBAL_WILDCARD_DENY_ERROR
    with pytest.raises(DomainPatternError, match="global wildcard"):
        DomainPolicy(denied=[" ** "])
    assert DomainPolicy(allowed=["*"]).is_allowed("anything.example")


@pytest.mark.parametrize(("pattern", "problem"), [
    ("", "is empty"),
    ("   ", "is empty"),
    ("*.", "is empty"),
    ("**.", "is empty"),
    ("http://example.com", "not a URL"),
    ("example.com/path", "unsupported character"),
    ("user@example.com", "unsupported character"),
    ("exa mple.com", "whitespace"),
    ("{a,b}.example.com", "unsupported character"),
    ("[a-z].example.com", "brackets may only enclose an IPv6 literal"),
    ("[::1", "unsupported character"),
    ("[::1]junk", "unexpected text after the IPv6 literal"),
    ("foo.**.example.com", "'**'"),
])
def test_bad_patterns_name_the_pattern(pattern: str, problem: str) -> None:
    with pytest.raises(DomainPatternError) as info:
        DomainPolicy(allowed=[pattern])
    assert f'"{pattern}"' in str(info.value)
    assert problem in str(info.value)


def test_literal_allow_entries_are_the_only_local_exemptions() -> None:
    policy = DomainPolicy(allowed=["localhost", "[::1]", "*.corp.example", "*", "10.0.0.*"])
    assert policy.is_literally_allowed("LOCALHOST.")
    assert policy.is_literally_allowed("0:0::1")
    assert not policy.is_literally_allowed("127.0.0.1")
    assert not policy.is_literally_allowed("db.corp.example")
    assert not policy.is_literally_allowed("10.0.0.1")


def test_duplicate_patterns_resolve_none_allow_deny() -> None:
    policy = DomainPolicy.from_rules([
        ("a.example", "allow"), ("A.example.", "deny"),  # same key after normalisation
        ("b.example", "deny"), ("b.example", "allow"),  # order does not matter
        ("c.example", "none"), ("c.example", "allow"),
        ("d.example", "none"),
        ("*.e.example", "allow"),
    ])
    assert policy.denied == ("a.example", "b.example")
    assert policy.allowed == ("c.example", "*.e.example")
    assert policy.is_denied("a.example") and not policy.is_allowed("a.example")
    assert not policy.is_allowed("d.example") and not policy.is_denied("d.example")
    with pytest.raises(ValueError, match='invalid decision "maybe" for domain pattern "x"'):
        DomainPolicy.from_rules([("x", "maybe")])
    with pytest.raises(DomainPatternError, match="global wildcard"):
        DomainPolicy.from_rules([("*", "deny")])


def test_execpolicy_network_rules_feed_the_domain_policy() -> None:
    policy = Policy()
    policy.add_network_rule("Api.Example.com:443", "https", "allow")
    policy.add_network_rule("evil.example", "https", "deny")
    policy.add_network_rule("maybe.example", "http", "prompt")
    allowed, denied = policy.compiled_network_domains()
    domains = DomainPolicy(allowed, denied)
    assert domains.is_allowed("api.example.com") and domains.is_denied("evil.example")
    pairs = [(r.host, {"allow": "allow", "forbidden": "deny"}.get(r.decision.value, "none"))
             for r in policy.network_rules]
    assert DomainPolicy.from_rules(pairs).allowed == domains.allowed


labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)
domains = st.lists(labels, min_size=1, max_size=4).map(".".join)


@SETTINGS
@given(domains, st.lists(labels, max_size=3).map(".".join), domains)
def test_apex_and_subdomains_is_a_superset_of_subdomains(base: str, prefix: str,
                                                         other: str) -> None:
    sub = DomainPolicy(allowed=[f"*.{base}"])
    both = DomainPolicy(allowed=[f"**.{base}"])
    for host in (base, f"{prefix}.{base}" if prefix else base, other, f"{other}.{base}"):
        if sub.is_allowed(host):
            assert both.is_allowed(host)
    assert both.is_allowed(base) and not sub.is_allowed(base)


@SETTINGS
@given(domains, st.text(max_size=30))
def test_exact_pattern_matches_only_its_own_host(pattern: str, host: str) -> None:
    policy = DomainPolicy(allowed=[pattern], denied=[pattern])
    same = normalize_host(host) == normalize_host(pattern)
    assert policy.is_allowed(host) == same
    assert policy.is_denied(host) == same


@SETTINGS
@given(st.text(max_size=40), st.text(max_size=40))
def test_arbitrary_patterns_compile_or_raise_the_documented_error(pattern: str,
                                                                  host: str) -> None:
    for lists in ({"allowed": [pattern]}, {"denied": [pattern]}):
        try:
            policy = DomainPolicy(**lists)
        except DomainPatternError as error:
            assert f'"{pattern}"' in str(error) or str(error) == GLOBAL_WILDCARD_DENY_ERROR
            continue
        policy.is_allowed(host)
        policy.is_denied(host)
        policy.is_literally_allowed(host)


# -- address classification --------------------------------------------------

NON_PUBLIC = [
    "0.0.0.0", "0.1.2.3",  # this network / unspecified
    "10.0.0.1", "10.255.255.255",  # RFC 1918
    "100.64.0.1", "100.127.255.254",  # CGNAT
    "127.0.0.1", "127.255.255.254",  # loopback
    "169.254.169.254",  # link-local (cloud metadata)
    "172.16.0.1", "172.31.255.255",  # RFC 1918
    "192.0.0.8",  # IETF protocol assignments
    "192.0.2.1",  # TEST-NET-1
    "192.168.1.1",  # RFC 1918
    "198.18.0.1", "198.19.255.255",  # benchmarking
    "198.51.100.7",  # TEST-NET-2
    "203.0.113.9",  # TEST-NET-3
    "224.0.0.1", "239.255.255.250",  # multicast
    "240.0.0.1", "255.255.255.255",  # reserved, broadcast
    "::", "::1",  # unspecified, loopback
    "fc00::1", "fd12:3456::1",  # unique local
    "fe80::1", "fe80::1%lo",  # link-local, with a zone
    "fec0::1",  # site-local
    "ff02::1",  # multicast
    "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254",  # v4-mapped
    "::127.0.0.1",  # v4-compatible
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "not an address",  # fail closed
]
PUBLIC = [
    "1.1.1.1", "8.8.8.8", "93.184.216.34", "100.63.255.255", "100.128.0.0",
    "172.15.255.255", "172.32.0.0", "192.0.1.1", "192.0.3.1", "198.17.255.255",
    "198.20.0.0", "223.255.255.255", "2606:4700:4700::1111", "2001:4860:4860::8888",
    "::ffff:8.8.8.8", "64:ff9b::808:808",
]


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_non_public_addresses(address: str) -> None:
    assert is_non_public_address(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert not is_non_public_address(address)
    assert not is_non_public_address(ipaddress.ip_address(address))


@SETTINGS
@given(st.integers(0, 2**32 - 1))
def test_v4_mapped_addresses_classify_like_their_ipv4(value: int) -> None:
    v4 = ipaddress.IPv4Address(value)
    mapped = ipaddress.IPv6Address(f"::ffff:{v4}")
    assert is_non_public_address(mapped) == is_non_public_address(v4)


# -- resolution and the pipeline (no sockets: injected resolver) --------------


def table_resolver(table: Mapping[str, Sequence[str]]):
    calls: list[str] = []

    async def resolver(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolver, calls


def test_resolution_failures_come_back_empty() -> None:
    async def slow(host: str, port: int) -> Sequence[str]:
        await asyncio.sleep(5)
        return ["1.1.1.1"]

    async def garbage(host: str, port: int) -> Sequence[str]:
        return ["1.1.1.1", "not-an-ip"]

    async def main() -> None:
        timed_out = await resolve("slow.test", 80, resolver=slow, timeout=0.05)
        assert timed_out.addresses == () and "timed out" in (timed_out.error or "")
        bad = await resolve("bad.test", 80, resolver=garbage)
        assert bad.addresses == () and "non-address" in (bad.error or "")
        resolver, calls = table_resolver({"dup.test": ["1.1.1.1", "1.1.1.1", "::1"]})
        dup = await resolve("dup.test", 80, resolver=resolver)
        assert dup.addresses == ("1.1.1.1", "::1") and dup.non_public
        literal = await resolve("8.8.8.8", 80, resolver=resolver)
        assert literal.addresses == ("8.8.8.8",) and calls == ["dup.test"]

    asyncio.run(main())


def evaluate(policy: NetworkPolicy, host: str, port: int = 80):
    return asyncio.run(policy.evaluate(NetworkRequest(host, port, "http", "GET")))


SPEC_DOMAINS = DomainPolicy.from_rules([
    ("localhost", "allow"), ("*.allowed.example", "allow"), ("denied.example", "deny"),
    ("public.allowed.example", "allow"), ("rebind.allowed.example", "allow"),
])
SPEC_DNS = {
    "public.allowed.example": ["93.184.216.34"],
    "rebind.allowed.example": ["93.184.216.34", "127.0.0.1"],
    "mapped.allowed.example": ["::ffff:10.0.0.1"],
    "other.example": ["93.184.216.35"],
}


@pytest.mark.parametrize(("host", "reason", "addresses"), [
    ("localhost", None, ("127.0.0.1", "::1")),
    ("127.0.0.1", "not_allowed_local", ()),
    ("[::1]", "not_allowed_local", ()),
    ("denied.example", "denied", ()),
    ("allowed.example", "not_allowed", ()),  # apex: *. is subdomains only
    ("x.allowed.example", "not_allowed_local", ()),  # allowlisted, unresolvable
    ("public.allowed.example", None, ("93.184.216.34",)),
    ("rebind.allowed.example", "not_allowed_local", ()),  # ANY private answer blocks
    ("mapped.allowed.example", "not_allowed_local", ()),
    ("other.example", "not_allowed", ()),
    ("169.254.169.254", "not_allowed_local", ()),
    ("8.8.8.8", "not_allowed", ()),
])
def test_pipeline_on_the_spec_case(host: str, reason: str | None,
                                   addresses: tuple[str, ...]) -> None:
    resolver, _ = table_resolver(SPEC_DNS)
    blocked: list[BlockedRequest] = []
    policy = NetworkPolicy(SPEC_DOMAINS, resolver=resolver, observer=blocked.append)
    decision = evaluate(policy, host)
    assert decision.reason == reason
    assert decision.addresses == addresses
    if reason is None:
        assert decision.allowed and not blocked
    else:
        assert not decision.allowed
        assert (decision.source, decision.decision) == ("baseline_policy", "deny")
        [record] = blocked
        assert (record.reason, record.host, record.port, record.protocol, record.source) == (
            reason, normalize_host(host), 80, "http", "baseline_policy")


def test_literal_exemption_needs_an_exact_entry_and_allow_local_binding_lifts_it() -> None:
    resolver, calls = table_resolver({"svc.internal": ["10.1.2.3"]})
    exact = NetworkPolicy(DomainPolicy(["127.0.0.1", "*.internal"]), resolver=resolver)
    assert evaluate(exact, "127.0.0.1").addresses == ("127.0.0.1",)
    assert evaluate(exact, "svc.internal").reason == "not_allowed_local"
    wildcard = NetworkPolicy(DomainPolicy(["*"]), resolver=resolver)
    assert evaluate(wildcard, "127.0.0.1").reason == "not_allowed_local"
    assert evaluate(wildcard, "localhost").reason == "not_allowed_local"
    local_ok = NetworkPolicy(DomainPolicy(["*.internal", "10.9.9.9"]), resolver=resolver,
                             allow_local_binding=True)
    assert evaluate(local_ok, "svc.internal").addresses == ("10.1.2.3",)
    assert evaluate(local_ok, "10.9.9.9").addresses == ("10.9.9.9",)
    assert evaluate(local_ok, "10.9.9.8").reason == "not_allowed"
    # denied beats everything, including allow_local_binding and an allow entry
    both = NetworkPolicy(DomainPolicy(["localhost"], ["localhost"]), allow_local_binding=True)
    assert evaluate(both, "localhost").reason == "denied"
    assert calls.count("svc.internal") == 2


@pytest.mark.parametrize("host", ["2130706433", "127.1", "0x7f.0.0.1", "0177.0.0.1", "0",
                                  "foo.localhost"])
def test_numeric_spellings_resolve_to_what_the_c_library_would_connect_to(host: str) -> None:
    # Not IP literals to the policy, so they are resolved (by getaddrinfo, no
    # network needed) and the loopback answer is refused like any other.
    policy = NetworkPolicy(DomainPolicy(["*"]), dns_timeout=1.0)
    assert evaluate(policy, host).reason == "not_allowed_local"


def test_decider_is_asked_only_for_not_allowed() -> None:
    asked: list[NetworkRequest] = []

    async def decider(request: NetworkRequest) -> Verdict:
        asked.append(request)
        verdicts: dict[str, Verdict] = {"yes.example": "allow", "later.example": "ask"}
        return verdicts.get(request.host, "deny")

    resolver, _ = table_resolver({"yes.example": ["93.184.216.34"],
                                  "no.example": ["93.184.216.34"],
                                  "later.example": ["93.184.216.34"],
                                  "private.example": ["192.168.0.10"]})
    blocked: list[BlockedRequest] = []
    policy = NetworkPolicy(DomainPolicy(["ok.example"], ["bad.example"]), decider=decider,
                           resolver=resolver, observer=blocked.append)
    request = NetworkRequest("YES.example.", 443, "https_connect", "CONNECT", context=["curl"])
    decision = asyncio.run(policy.evaluate(request))
    assert decision.allowed and decision.addresses == ("93.184.216.34",)
    assert asked == [NetworkRequest("yes.example", 443, "https_connect", "CONNECT", ["curl"])]
    no = evaluate(policy, "no.example")
    assert (no.reason, no.source, no.decision) == ("not_allowed", "decider", "deny")
    later = evaluate(policy, "later.example")
    assert (later.reason, later.source, later.decision) == ("not_allowed", "decider", "ask")
    for host in ("bad.example", "private.example", "10.0.0.1"):
        assert evaluate(policy, host).source == "baseline_policy"
    assert [r.host for r in asked] == ["yes.example", "no.example", "later.example"]
    assert [(b.host, b.reason, b.decision) for b in blocked] == [
        ("no.example", "not_allowed", "deny"), ("later.example", "not_allowed", "ask"),
        ("bad.example", "denied", "deny"), ("private.example", "not_allowed_local", "deny"),
        ("10.0.0.1", "not_allowed_local", "deny")]


def test_a_failing_decider_or_observer_fails_closed() -> None:
    async def broken(request: NetworkRequest) -> Verdict:
        raise RuntimeError("approval service down")

    async def async_observer(record: BlockedRequest) -> None:
        raise RuntimeError("observer down")

    resolver, _ = table_resolver({"x.example": ["93.184.216.34"]})
    policy = NetworkPolicy(DomainPolicy(), decider=broken, resolver=resolver,
                           observer=async_observer)
    decision = evaluate(policy, "x.example")
    assert (decision.allowed, decision.reason, decision.source) == (False, "not_allowed",
                                                                    "decider")


def test_decider_approval_of_an_unresolved_name_still_checks_the_addresses() -> None:
    answers: Iterator[Sequence[str] | None] = iter([None, ["127.0.0.1"]])

    async def flaky(host: str, port: int) -> Sequence[str]:
        answer = next(answers)
        if answer is None:
            raise OSError("SERVFAIL")
        return answer

    async def yes(request: NetworkRequest) -> Verdict:
        return "allow"

    policy = NetworkPolicy(DomainPolicy(), decider=yes, resolver=flaky)
    assert evaluate(policy, "flaky.example").reason == "not_allowed_local"


def test_messages_and_headers() -> None:
    policy = NetworkPolicy(SPEC_DOMAINS, resolver=table_resolver({})[0])
    assert evaluate(policy, "denied.example").message == "Domain denied by the sandbox policy."
    assert evaluate(policy, "allowed.example").message == "Domain not in allowlist."
    assert evaluate(policy, "127.0.0.1").message == (
        "Sandbox policy blocks local/private network addresses.")
    assert [proxy_error_header(r) for r in ("denied", "not_allowed", "not_allowed_local",
                                            "other")] == [
        "blocked-by-denylist", "blocked-by-allowlist", "blocked-by-allowlist",
        "blocked-by-policy"]


# -- environment -------------------------------------------------------------


def test_proxy_environment() -> None:
    env = proxy_environment(3128, 1080)
    http, socks = "http://127.0.0.1:3128", "socks5h://127.0.0.1:1080"
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    assert env == {
        "HTTP_PROXY": http, "http_proxy": http, "HTTPS_PROXY": http, "https_proxy": http,
        "WS_PROXY": http, "ws_proxy": http, "WSS_PROXY": http, "wss_proxy": http,
        "ALL_PROXY": socks, "all_proxy": socks, "FTP_PROXY": socks, "ftp_proxy": socks,
        "NO_PROXY": "", "no_proxy": "",
        "NPM_CONFIG_HTTP_PROXY": http, "npm_config_http_proxy": http,
        "NPM_CONFIG_HTTPS_PROXY": http, "npm_config_https_proxy": http,
        "NPM_CONFIG_PROXY": http, "npm_config_proxy": http,
        "NPM_CONFIG_NOPROXY": "", "npm_config_noproxy": "",
        "YARN_HTTP_PROXY": http, "YARN_HTTPS_PROXY": http,
        "BUNDLE_HTTP_PROXY": http, "BUNDLE_HTTPS_PROXY": http, "BUNDLE_NO_PROXY": "",
        "PIP_PROXY": http, "DOCKER_HTTP_PROXY": http, "DOCKER_HTTPS_PROXY": http,
        "NODE_USE_ENV_PROXY": "1", "ELECTRON_GET_USE_PROXY": "true",
        "CODEX_NETWORK_PROXY_ACTIVE": "1",
        "SSL_CERT_FILE": bundle, "SSL_CERT_DIR": "/etc/ssl/certs", "CURL_CA_BUNDLE": bundle,
        "REQUESTS_CA_BUNDLE": bundle, "NODE_EXTRA_CA_CERTS": bundle, "GIT_SSL_CAINFO": bundle,
        "PIP_CERT": bundle, "AWS_CA_BUNDLE": bundle,
        "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE": bundle,
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": bundle, "HTTPLIB2_CA_CERTS": bundle,
        "NIX_SSL_CERT_FILE": bundle,
    }
