"""Locust load test of the main staff and API flows (locust is not a dependency: `pip install locust`).

    locust -f tests/load/locustfile.py --host http://127.0.0.1:8000 \
        --users 32 --spawn-rate 8 --run-time 2m --headless

Environment: CF_TENANT (bank slug), CF_CLIENT_ID / CF_CLIENT_SECRET (a machine client of that bank with
"applications:write loans:read loans:write", from `creditfactory clients create`), CF_CUSTOMER_ID, CF_PRODUCT_ID,
CF_OFFICER_ID and CF_LOAN (a loan reference) of seeded data. `creditfactory bench api` runs the same three flows
without locust, against a database it seeds itself, and reports the figures in docs/benchmarks.md.
"""

import base64
import os
import uuid

from locust import HttpUser, between, task

TENANT = os.environ.get("CF_TENANT", "puer")
PREFIX = f"/t/{TENANT}/api/v1"


class StaffApp(HttpUser):
    """A field app or channel back end: registers applications, reads loans, posts repayments."""

    wait_time = between(0.0, 0.2)

    def on_start(self):
        basic = base64.b64encode(f"{os.environ['CF_CLIENT_ID']}:{os.environ['CF_CLIENT_SECRET']}".encode()).decode()
        token = self.client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                 headers={"Authorization": f"Basic {basic}"}).json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {token}"

    @task(3)
    def intake_with_decision(self):
        self.client.post(f"{PREFIX}/applications", name="intake", headers={"Idempotency-Key": uuid.uuid4().hex},
                         json={"customer_id": int(os.environ["CF_CUSTOMER_ID"]),
                               "product_id": int(os.environ["CF_PRODUCT_ID"]),
                               "officer_id": int(os.environ["CF_OFFICER_ID"]),
                               "amount": "50000", "term_months": 12, "channel": "field_app", "purpose": "进货",
                               "repayment_method": "equal_installment", "sector": "retail"})

    @task(3)
    def loan_read(self):
        self.client.get(f"{PREFIX}/loans/{os.environ['CF_LOAN']}", name="loan read")

    @task(1)
    def repayment(self):
        self.client.post(f"{PREFIX}/loans/{os.environ['CF_LOAN']}/repayments", name="repayment",
                         headers={"Idempotency-Key": uuid.uuid4().hex}, json={"amount": "10.00"})
