import json
from tests.factories import make_phone_number, build_seed_campaign, resource, BULK, envelope

def show(label, r):
    print("==", label, r.status, dict(r.headers), json.dumps(r.document)[:700])

def test_probe(app, api):
    show("pn", api.post("/api/v1/phone-numbers", resource("phone-numbers", {"number": "(519) 555-0101"})))
    with app.app_context():
        phone = make_phone_number(account_id=api.credentials.account_id)
    seed = build_seed_campaign(api, phone)
    show("list", api.get("/api/v1/text-templates?page[size]=1"))
    show("env", api.get("/api/v1/envelopes?page[size]=1&include=activity"))
    show("texts post", api.post("/api/v1/texts", resource("texts", {"to": "x"})))
    assert 0
