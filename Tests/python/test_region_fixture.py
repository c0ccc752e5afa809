"""The fixture itself: five demo nodes converge and answer with the demo tokens."""


def test_five_nodes_converge_with_demo_data(region):
    for node in region.ports:
        status = region.status(node)
        assert status["node"] == node
        assert len(status["versionVector"]) == 5
        assert status["logPosition"] > 0, f"{node} holds no demo data"
    page = region.request("GET", "/v1/clients?limit=5", node="kronoby").json()
    assert len(page["items"]) == 5


def test_wrong_token_is_refused(region):
    answer = region.request("GET", "/v1/status", node="larsmo", role=None)
    assert answer.status == 401
    assert answer.json()["error"]["code"] == "unauthorized"
