from tests.conftest import bearer
from tests.factories import declaration


def test_lodge_and_read(client, tokens):
    response = client.post("/api/v1/declarations", json=declaration(), headers=bearer(tokens["trader"]))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["state"] == "released"
    assert body["lane"] == "green"
    got = client.get(f"/api/v1/declarations/{body['id']}", headers=bearer(tokens["trader"]))
    assert got.status_code == 200
    assert got.json()["mrn"] == body["mrn"]
