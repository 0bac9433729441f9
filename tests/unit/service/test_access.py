"""Tokens and scopes: who may call what, from the `auth` settings to a 401 or a 403, and when
`sq serve` refuses an address."""

from __future__ import annotations

import pytest

from sq.service.access import Access, Scope, is_loopback, public_without_tokens
from sq.service.settings_auth import AuthSettings, TokenSource

ACCESS = Access.of([("r-tok", Scope.READ), ("w-tok", Scope.WRITE), ("a-tok", Scope.ADMIN)])


def status(access: Access, needed: Scope | None, header: str | None) -> int:
    denial = access.check(needed, header)
    return 200 if denial is None else denial.status


def test_no_token_configured_means_everything_is_open() -> None:
    assert not Access().enabled
    for method in ("GET", "POST", "DELETE"):
        assert Access().needed(method) is None
    assert Access().needed("POST", declared="admin") is None


def test_reads_need_read_writes_need_write_once_a_token_is_configured() -> None:
    assert [ACCESS.needed(m) for m in ("GET", "HEAD", "OPTIONS")] == [Scope.READ] * 3
    assert [ACCESS.needed(m) for m in ("POST", "PUT", "PATCH", "DELETE")] == [Scope.WRITE] * 4
    assert ACCESS.needed("GET", declared="admin") == Scope.ADMIN
    assert ACCESS.needed("POST", declared="admin") == Scope.ADMIN


def test_anonymous_reads_leave_only_reads_open() -> None:
    access = Access.of([("w-tok", Scope.WRITE)], anonymous_reads=True)
    assert access.needed("GET") is None
    assert access.needed("POST") == Scope.WRITE


def test_scopes_are_ordered_read_write_admin() -> None:
    table = {
        token: [status(ACCESS, needed, f"Bearer {token}") for needed in Scope]
        for token in ("r-tok", "w-tok", "a-tok")
    }
    assert table == {
        "r-tok": [200, 403, 403],
        "w-tok": [200, 200, 403],
        "a-tok": [200, 200, 200],
    }


def test_the_widest_scope_wins_when_one_value_is_listed_twice() -> None:
    for listed in ([Scope.ADMIN, Scope.READ], [Scope.READ, Scope.ADMIN]):
        access = Access.of([("same", listed[0]), ("x", Scope.WRITE), ("same", listed[1])])
        assert access.scope_of("same") == Scope.ADMIN


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "unauthorized"),
        ("", "unauthorized"),
        ("Bearer", "unauthorized"),
        ("Basic w-tok", "unauthorized"),
        ("Bearer w-to", "unauthorized"),
        ("Bearer w-tok-and-more", "unauthorized"),
    ],
)
def test_a_missing_or_unknown_token_is_401_and_never_echoed(header: str | None, code: str) -> None:
    denial = ACCESS.check(Scope.READ, header)
    assert denial is not None
    assert (denial.status, denial.code) == (401, code)
    assert denial.challenge.startswith("Bearer")
    assert "w-to" not in denial.message


def test_the_scheme_is_case_insensitive_and_spaces_around_the_token_ignored() -> None:
    assert status(ACCESS, Scope.WRITE, "bearer  w-tok ") == 200


def test_a_token_lacking_the_scope_is_403_naming_the_scope() -> None:
    denial = ACCESS.check(Scope.ADMIN, "Bearer w-tok")
    assert denial is not None
    assert (denial.status, denial.code) == (403, "forbidden")
    assert "admin" in denial.message
    assert 'scope="admin"' in denial.challenge


def test_token_values_are_not_kept() -> None:
    assert "w-tok" not in repr(ACCESS)


def test_settings_read_tokens_from_the_named_variables_comma_separated() -> None:
    settings = AuthSettings(
        tokens=[
            TokenSource(env="CI_TOKENS", scope=Scope.WRITE),
            TokenSource(env="OPS_TOKEN", scope=Scope.ADMIN),
            TokenSource(env="UNSET", scope=Scope.READ),
        ]
    )
    access = settings.access({"CI_TOKENS": " old, new ,,", "OPS_TOKEN": "ops"})
    assert [access.scope_of(t) for t in ("old", "new", "ops", "", " old")] == [
        Scope.WRITE,
        Scope.WRITE,
        Scope.ADMIN,
        None,
        None,
    ]
    assert not settings.access({"CI_TOKENS": " , "}).enabled


def test_the_default_variables_are_one_per_scope() -> None:
    access = AuthSettings().access(
        {"SQ_ADMIN_TOKENS": "a", "SQ_WRITE_TOKENS": "w", "SQ_READ_TOKENS": "r"}
    )
    assert [access.scope_of(t) for t in "awr"] == [Scope.ADMIN, Scope.WRITE, Scope.READ]
    assert not AuthSettings().access({}).enabled


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_public_address_without_tokens_is_refused_unless_insecure() -> None:
    public = "0.0.0.0"
    reason = public_without_tokens(public, Access(), insecure=False)
    assert reason is not None
    assert "--insecure" in reason
    assert "\n" not in reason
    assert public_without_tokens(public, Access(), insecure=True) is None
    assert public_without_tokens(public, ACCESS, insecure=False) is None
    assert public_without_tokens("127.0.0.1", Access(), insecure=False) is None
