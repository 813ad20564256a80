"""`creditflow serve`: the real-time decision service."""

from __future__ import annotations

from pathlib import Path

import typer

from creditflow.cli.app import command, require_extra


@command("serve")
def serve_cmd(
    model_dir: Path = typer.Argument(..., help="Model bundle directory (DIR/model from train)."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy YAML: rules, cutoffs, version. "
                                       "Default: approve at the base score, review one PDO below."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on (1-65535)."),
    audit: str | None = typer.Option(None, "--audit", envvar="CREDITFLOW_AUDIT", help="Audit log: SQLite path or "
                                     "sqlite:///path.db (default ./creditflow-audit.db), or postgresql://user@host:port/db; "
                                     "also CREDITFLOW_AUDIT (keeps a password out of `ps`; the flag wins)."),
    audit_timeout: float = typer.Option(5.0, "--audit-timeout", help="Seconds an audit write may wait for a "
                                        "locked or slow database before the request gets 503."),
    workers: int = typer.Option(1, "--workers", help="Worker processes."),
    api_keys_file: Path | None = typer.Option(None, "--api-keys-file", help="File of SHA-256 key digests, one a "
                                              "line (`creditflow keys hash`); also CREDITFLOW_API_KEYS."),
    admin_keys_file: Path | None = typer.Option(None, "--admin-keys-file", help="Digests of admin keys (reload); "
                                                "also CREDITFLOW_ADMIN_KEYS."),
    max_batch: int = typer.Option(100, "--max-batch", help="Most applications in one batch call."),
    range_tolerance: float = typer.Option(1.0, "--range-tolerance", help="Accept numbers up to this many training "
                                          "ranges beyond the training min/max (never negative if never seen so)."),
    reject_unknown_fields: bool = typer.Option(False, "--reject-unknown-fields", help="422 for applicant fields "
                                               "the model and policy do not use (default: ignore them)."),
    reasons: int = typer.Option(4, "--reasons", help="Model reasons returned per decision."),
    insecure_no_auth: bool = typer.Option(False, "--insecure-no-auth", help="Serve without API keys (local "
                                          "testing only)."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request (uvicorn access log)."),
    http: str = typer.Option("auto", "--http", help="HTTP parser: auto (httptools if installed), h11, httptools."),
    loop: str = typer.Option("auto", "--loop", help="Event loop: auto (uvloop if installed), asyncio, uvloop."),
) -> None:
    """Serve a bundle as an HTTP decision service (FastAPI on uvicorn); docs at /docs."""
    require_extra("service", "fastapi", "uvicorn", "pydantic", command="creditflow serve")
    from creditflow.service.config import ServiceConfig
    from creditflow.service.server import serve

    config = ServiceConfig(
        model_dir=str(model_dir), policy=str(policy) if policy else None, audit=audit,
        api_keys_file=str(api_keys_file) if api_keys_file else None,
        admin_keys_file=str(admin_keys_file) if admin_keys_file else None, insecure_no_auth=insecure_no_auth,
        max_batch=max_batch, range_tolerance=range_tolerance, reject_unknown_fields=reject_unknown_fields,
        reasons=reasons, workers=workers, audit_timeout=audit_timeout,
    )
    serve(config, host=host, port=port, log_level=log_level.lower(), access_log=access_log, http=http, loop=loop)
