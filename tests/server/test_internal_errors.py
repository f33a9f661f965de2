"""A run an internal error stopped says so to its readers without the server's internals."""

from __future__ import annotations

from pathlib import Path

from runwire_server.testing import running_server
from runwire_server.testing_services import postgres_database
from tests.helpers import KEY, api, create_workflow, start_run, wait_for_run

REFUSE_SUCCESS = "ALTER TABLE runwire_runs ADD CONSTRAINT test_refuses_success CHECK (status <> 'succeed')"
INTERNALS = ("test_refuses_success", "UPDATE", "runwire_runs", "SQL", "parameters")


def test_a_run_stopped_by_an_internal_error_names_its_kind_and_keeps_the_sql_in_the_log(
    executables: Path, tmp_path: Path
) -> None:
    import psycopg

    ran = tmp_path / "ran"
    (executables / "count.sh").write_text('#!/bin/sh\necho ran >> "$1"\n')
    (executables / "count.sh").chmod(0o755)
    with postgres_database() as url:
        env = {
            "RUNWIRE_API_KEYS": KEY,
            "RUNWIRE_DATABASE_URL": url,
            "RUNWIRE_EXECUTABLES_DIR": str(executables),
        }
        with running_server(env=env) as server:
            with psycopg.connect(url, autocommit=True) as db:  # every run's final write now fails
                db.execute(REFUSE_SUCCESS)
            with api(server.url) as client:
                run = wait_for_run(client, start_run(client, create_workflow(client), '{"name": "Ada"}'))
                submit = {"executable_name": "count.sh", "args": [str(ran)], "is_async": False}
                once = {"Idempotency-Key": "count-once"}
                blocking = client.post("/api/execute/", json=submit, headers=once)
                retried = client.post("/api/execute/", json=submit, headers=once)
                listed = client.get("/api/v1/runs/", params={"door": "execute"}).json()["results"]
            logs = server.logs()

    assert run["status"] == "failed"
    assert run["error"] == "internal error (IntegrityError); the server's log has the details"
    assert not any(word in run["error"] or word in blocking.text for word in INTERNALS)
    # a blocking execute (its program ran): a 500 naming the job, not a store error's "try again"
    assert blocking.status_code == 500, blocking.text
    (execute_run,) = listed
    assert blocking.json()["detail"] == f"{run['error']} (job {execute_run['id']})"
    # its program ran: a retry with its Idempotency-Key gets the same answer and runs nothing
    assert retried.status_code == 500 and retried.json() == blocking.json()
    assert retried.headers.get("Idempotent-Replayed") == "true"
    assert ran.read_text() == "ran\n"
    assert execute_run["status"] == "failed"
    assert execute_run["error"] == "internal error (IntegrityError); the server's log has the details"
    # the operator still finds what happened
    assert logs.count("stopped by an internal error") >= 2 and "test_refuses_success" in logs
