"""Re-verification by the worker, on a frozen clock, against a real DNS server whose zone the test edits.

Defaults apply: a check about every 24 h (18 to 24 h with jitter), every hour while failing, 72 h of grace.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.clock import FrozenClock
from app.config import Settings
from app.container import Container
from app.db import transaction
from app.domains.models import Domain
from app.worker import Worker, default_jobs
from tests.conftest import Api
from tests.dns_server import DnsTestServer
from tests.integration.domains.conftest import RecordingMailer, claim_and_verify, events, publish
from tests.member_factories import add_person

HOUR = timedelta(hours=1)
NAME = "acme-corp.com"
RECORD = "_tenantry-challenge.acme-corp.com"


def recheck(container: Container) -> dict[str, int]:
    """The worker's own job, as ``tenantry worker --once`` runs it."""
    jobs = [job for job in default_jobs(container) if job.name == "domains.recheck"]
    summary: dict[str, int] = Worker(container, jobs).run_once()["domains.recheck"]
    return summary


def stored(container: Container, domain_id: str) -> Domain:
    with transaction(container.session_factory) as session:
        return session.get_one(Domain, domain_id)


def org_settings(admin: Api, org_id: str) -> tuple[bool, str]:
    body = admin.get(f"/v1/orgs/{org_id}").json
    return body["sso_enforced"], body["auto_join"]


def enforce_sso_and_auto_join(admin: Api, org_id: str) -> None:
    resp = admin.patch(f"/v1/orgs/{org_id}", {"sso_enforced": True, "auto_join": "auto_join"})
    assert resp.status_code == 200, resp.json


def test_a_missing_record_unverifies_after_the_grace_period_and_withdraws_what_it_unlocked(
    admin: Api,
    org: dict[str, Any],
    dns: DnsTestServer,
    container: Container,
    clock: FrozenClock,
    mailer: RecordingMailer,
) -> None:
    add_person(container, org["id"], "owner@acme-corp.com", role="owner")
    add_person(container, org["id"], "admin@acme-corp.com", role="admin")
    domain = claim_and_verify(admin, dns, org["id"], NAME)
    enforce_sso_and_auto_join(admin, org["id"])

    assert recheck(container) == {}  # nothing due yet
    clock.advance(24 * HOUR)
    assert recheck(container) == {"ok": 1}

    dns.zone.remove(RECORD)  # someone cleans up "unused" DNS records
    clock.advance(24 * HOUR)
    assert recheck(container) == {"failing": 1}
    failing_since = clock.now()
    row = stored(container, domain["id"])
    assert row.status == "verified" and row.failing_since == failing_since and row.last_error == "nxdomain"
    assert [m.to for m in mailer.sent] == ["owner@acme-corp.com"]  # owners only, once
    assert "Action needed" in mailer.sent[0].subject and RECORD in mailer.sent[0].body
    failing = events(container, org["id"], "domain.recheck_failing")[0]
    assert failing.data["unverify_after"] == (failing_since + 72 * HOUR).isoformat()

    # Checked during the grace period (due hourly; here every 10 h, then at 71 h): still verified, the
    # settings still on, no new mail.
    for step in [10] * 7 + [1]:
        clock.advance(step * HOUR)
        assert recheck(container) == {"failing": 1}
    assert clock.now() == failing_since + 71 * HOUR
    assert stored(container, domain["id"]).status == "verified"
    assert org_settings(admin, org["id"]) == (True, "auto_join")
    assert len(mailer.sent) == 1

    clock.advance(HOUR)  # 72 h after the first miss
    assert recheck(container) == {"unverified": 1}
    row = stored(container, domain["id"])
    assert row.status == "unverified" and row.next_check_at is None
    assert org_settings(admin, org["id"]) == (False, "off")
    assert admin.get(f"/v1/orgs/{org['id']}/domains/{domain['id']}").json["status"] == "unverified"

    unverified = events(container, org["id"], "domain.unverified")[0]
    assert unverified.data["withdrawn"] == ["auto_join", "sso_enforced"]
    assert unverified.data["failing_since"] == failing_since.isoformat()
    assert unverified.changes == {"status": {"before": "verified", "after": "unverified"}}
    org_updated = events(container, org["id"], "org.updated")[-1]
    assert org_updated.data == {"reason": "domain_unverified"}
    assert org_updated.changes == {
        "auto_join": {"before": "auto_join", "after": "off"},
        "sso_enforced": {"before": True, "after": False},
    }
    assert [m.to for m in mailer.sent] == ["owner@acme-corp.com"] * 2
    assert "no longer verified" in mailer.sent[1].subject
    assert "auto_join, sso_enforced" in mailer.sent[1].body

    clock.advance(24 * HOUR)
    assert recheck(container) == {}  # an unverified domain is not re-checked
    # Publishing the record again and verifying restores the domain (the settings stay off).
    publish(dns, domain)
    again = admin.post(f"/v1/orgs/{org['id']}/domains/{domain['id']}/verify")
    assert again.json["status"] == "verified" and again.json["failing_since"] is None


class TestTransientFailures:
    """Checks every 12 h while failing and a short DNS timeout: a few real timeouts span the grace period."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"dns_timeout": 0.25, "domain_recheck_retry": 12 * 3600})

    def test_timeouts_never_withdraw_on_their_own(
        self,
        admin: Api,
        org: dict[str, Any],
        dns: DnsTestServer,
        container: Container,
        clock: FrozenClock,
        mailer: RecordingMailer,
    ) -> None:
        add_person(container, org["id"], "owner@acme-corp.com", role="owner")
        domain = claim_and_verify(admin, dns, org["id"], NAME)
        enforce_sso_and_auto_join(admin, org["id"])
        dns.zone.remove(RECORD)
        clock.advance(24 * HOUR)
        assert recheck(container) == {"failing": 1}
        grace_over = clock.now() + 72 * HOUR

        dns.zone.silence(RECORD)  # from now on the server does not answer for the record
        for _ in range(7):  # 84 h: past the grace period, every check a timeout
            clock.advance(12 * HOUR)
            assert recheck(container) == {"transient": 1}
        assert clock.now() > grace_over
        row = stored(container, domain["id"])
        assert row.status == "verified" and row.last_error == "timeout"
        assert org_settings(admin, org["id"]) == (True, "auto_join")
        assert len(mailer.sent) == 1  # the warning only

        dns.zone.silence(RECORD, False)  # the server answers again: the record is still missing
        clock.advance(12 * HOUR)
        assert recheck(container) == {"unverified": 1}
        assert org_settings(admin, org["id"]) == (False, "off")

    def test_server_failures_alone_never_start_a_grace_period(
        self,
        admin: Api,
        org: dict[str, Any],
        dns: DnsTestServer,
        container: Container,
        clock: FrozenClock,
        mailer: RecordingMailer,
    ) -> None:
        add_person(container, org["id"], "owner@acme-corp.com", role="owner")
        domain = claim_and_verify(admin, dns, org["id"], NAME)
        dns.zone.fail(RECORD)
        clock.advance(24 * HOUR)
        for _ in range(10):  # 120 h of SERVFAIL
            assert recheck(container) == {"transient": 1}
            clock.advance(12 * HOUR)
        row = stored(container, domain["id"])
        assert row.status == "verified" and row.failing_since is None and row.last_error == "servfail"
        assert mailer.sent == [] and events(container, org["id"], "domain.recheck_") == []


def test_a_record_found_again_during_the_grace_period_recovers(
    admin: Api, org: dict[str, Any], dns: DnsTestServer, container: Container, clock: FrozenClock
) -> None:
    domain = claim_and_verify(admin, dns, org["id"], NAME)
    dns.zone.set_txt(RECORD, "tenantry-domain-verification=someone-elses")
    clock.advance(24 * HOUR)
    assert recheck(container) == {"failing": 1}
    assert stored(container, domain["id"]).last_error == "token_mismatch"
    publish(dns, domain)  # back, next to the other value
    clock.advance(HOUR)
    assert recheck(container) == {"recovered": 1}
    row = stored(container, domain["id"])
    assert row.status == "verified" and row.failing_since is None and row.last_error is None
    assert row.next_check_at is not None and row.next_check_at >= clock.now() + 18 * HOUR
    assert [e.action for e in events(container, org["id"], "domain.recheck_")] == [
        "domain.recheck_failing",
        "domain.recheck_recovered",
    ]


def test_losing_one_of_two_verified_domains_withdraws_nothing(
    admin: Api,
    org: dict[str, Any],
    dns: DnsTestServer,
    container: Container,
    clock: FrozenClock,
    mailer: RecordingMailer,
) -> None:
    add_person(container, org["id"], "owner@acme-corp.com", role="owner")
    claim_and_verify(admin, dns, org["id"], NAME)
    claim_and_verify(admin, dns, org["id"], "acme-labs.com")
    enforce_sso_and_auto_join(admin, org["id"])
    dns.zone.remove(RECORD)
    clock.advance(24 * HOUR)
    assert recheck(container) == {"failing": 1, "ok": 1}
    clock.advance(72 * HOUR)
    assert recheck(container) == {"unverified": 1, "ok": 1}
    assert org_settings(admin, org["id"]) == (True, "auto_join")
    assert events(container, org["id"], "domain.unverified")[0].data["withdrawn"] == []
    assert "another domain is verified" in mailer.sent[-1].body


def test_checks_are_spread_over_time(
    admin: Api, org: dict[str, Any], dns: DnsTestServer, container: Container, clock: FrozenClock
) -> None:
    verified_at = clock.now()
    ids = [claim_and_verify(admin, dns, org["id"], f"acme-{i}.com")["id"] for i in range(12)]
    due = sorted(d for d in (stored(container, i).next_check_at for i in ids) if d is not None)
    assert len(due) == 12
    assert all(verified_at + 18 * HOUR <= d <= verified_at + 24 * HOUR for d in due)
    assert len(set(due)) > 1  # verified together, not due together
    clock.advance(due[0] - verified_at)  # the first one is due: only those due now are checked
    assert recheck(container) == {"ok": sum(1 for d in due if d <= clock.now())}
    clock.advance(due[-1] - clock.now())
    assert recheck(container) == {"ok": sum(1 for d in due if d > verified_at + (due[0] - verified_at))}
