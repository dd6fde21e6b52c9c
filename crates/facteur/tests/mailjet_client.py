"""Sends one message through Facteur with Mailjet's official Python client (mailjet-rest),
unchanged but for its base URL, then reads the message back through the REST API.

Usage: mailjet_client.py BASE_URL API_KEY SECRET_KEY
"""
import sys

from mailjet_rest import Client

base, key, secret = sys.argv[1], sys.argv[2], sys.argv[3]
mailjet = Client(auth=(key, secret), version="v3.1", api_url=base)
data = {
    "Messages": [
        {
            "From": {"Email": "pilot@example.com", "Name": "Mailjet Pilot"},
            "To": [{"Email": "passenger@example.net", "Name": "passenger 1"}],
            "Subject": "Sent with mailjet-rest",
            "TextPart": "Dear passenger 1, welcome to Facteur!",
            "HTMLPart": "<h3>Dear passenger 1, welcome to Facteur!</h3>",
            "CustomID": "python-client",
        }
    ]
}
result = mailjet.send.create(data=data)
print("send:", result.status_code, result.json())
assert result.status_code == 200, result.text
sent = result.json()["Messages"][0]
assert sent["Status"] == "success", sent
message_id = sent["To"][0]["MessageID"]
assert isinstance(message_id, int) and message_id > 0

# The v3 REST API through the same client: the message by id, and by CustomID.
rest = Client(auth=(key, secret), version="v3", api_url=base)
one = rest.message.get(id=message_id)
assert one.status_code == 200, one.text
print("message status:", one.json()["Data"][0]["Status"])
found = rest.message.get(filters={"CustomID": "python-client"})
assert found.status_code == 200 and found.json()["Count"] == 1, found.text

# A bad request gets Mailjet's error shape.
try:
    bad = mailjet.send.create(data={"Messages": [{"To": [{"Email": "x"}], "TextPart": "x"}]})
except Exception as e:  # recent clients raise on 4xx; the response rides on the cause
    bad = getattr(e, "response", None) or getattr(e.__cause__, "response", None)
assert bad is not None and bad.status_code == 400, bad
codes = [e["ErrorCode"] for e in bad.json()["Messages"][0]["Errors"]]
assert "mj-0013" in codes, codes
print("ok")
