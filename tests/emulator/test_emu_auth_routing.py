"""Auth, trailing slashes, unknown paths and methods, the request log."""

import pytest
import requests
from emu_helpers import client, get


def test_valid_key_gets_200(emulator_factory):
    emu = emulator_factory(size="tiny")

    response = get(emu, "me/")

    assert response.status_code == 200
    assert response.json()["id"] == emu.objects("user")[0]["id"]


def test_missing_wrong_key_or_password_is_401(emulator_factory):
    emu = emulator_factory(size="tiny", api_key="secret")
    url = emu.base_url + "lead/"

    missing = requests.get(url, timeout=5)
    wrong = client(emu, key="other").get(url, timeout=5)
    with_password = requests.get(url, auth=("secret", "pw"), timeout=5)

    for response in (missing, wrong, with_password):
        assert response.status_code == 401
        assert response.json() == {"error": "Unauthorized"}


def test_path_without_slash_redirects_keeping_the_query(emulator_factory):
    emu = emulator_factory(size="tiny")

    response = client(emu).get(
        emu.base_url + "activity", params={"_limit": 2}, allow_redirects=False
    )

    assert response.status_code == 308
    assert response.headers["Location"] == "/api/v1/activity/?_limit=2"


def test_redirect_is_followed_to_the_same_page(emulator_factory):
    emu = emulator_factory(size="tiny")

    response = client(emu).get(emu.base_url + "user", params={"_limit": 2})

    assert response.status_code == 200
    assert [r.status for r in emu.requests] == [308, 200]
    assert emu.requests[1].path == "/api/v1/user/"


def test_unknown_path_is_404_with_an_error_body(emulator_factory):
    emu = emulator_factory(size="tiny")

    response = get(emu, "nothing_here/")

    assert response.status_code == 404
    assert "not found" in response.json()["error"]


def test_wrong_method_is_405(emulator_factory):
    emu = emulator_factory(size="tiny")

    response = client(emu).post(emu.base_url + "lead/", json={}, timeout=5)

    assert response.status_code == 405


def test_request_log_records_method_path_query_and_status(emulator_factory):
    emu = emulator_factory(size="tiny")

    get(emu, "activity/", _limit=3, _skip=0, date_created__gte="2024-04-01")
    client(emu).get(emu.base_url + "task/?_type=lead&_type=all", timeout=5)

    first, second = emu.requests
    assert (first.method, first.path, first.status) == ("GET", "/api/v1/activity/", 200)
    assert first.query == {
        "_limit": "3",
        "_skip": "0",
        "date_created__gte": "2024-04-01",
    }
    assert second.query == {"_type": "all"}
    assert second.query_string == "_type=lead&_type=all"
    assert first.headers["authorization"].startswith("Basic ")


def test_clear_requests_empties_the_log(emulator_factory):
    emu = emulator_factory(size="tiny")
    get(emu, "user/")

    emu.clear_requests()

    assert emu.requests == []


def test_stop_ends_kept_alive_connections(emulator_factory):
    emu = emulator_factory(size="tiny")
    session = client(emu)
    assert session.get(emu.base_url + "user/", timeout=5).status_code == 200

    emu.stop()

    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(emu.base_url + "user/", timeout=5)
