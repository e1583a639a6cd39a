"""The HTTP benchmark's baseline: a bare Flask endpoint that reads the JSON body and answers a constant."""

from __future__ import annotations

import json

from flask import Flask, Response, request

app = Flask(__name__)


@app.post("/v1/authz/check")
def check() -> Response:
    json.loads(request.get_data())
    return Response('{"allowed":true,"version":1,"reason":"bare"}', mimetype="application/json")
