"""`steward consumer`: the credentials of the automation teams that read."""

from __future__ import annotations

from typing import Annotated

import typer

consumer_app = typer.Typer(help="Credentials of the automation teams that read.",
                           no_args_is_help=True)


@consumer_app.command("token")
def consumer_token(
    name: Annotated[str, typer.Argument(help="A consumer of policies/consumers.yaml.")],
    days: Annotated[float, typer.Option(help="How long the token lives.")] = 30,
) -> None:
    """Issue a token for one consumer: printed once on stdout (only its digest is kept), so
    `export STEWARD_TOKEN=$(steward consumer token NAME)` works. Audited."""
    from datetime import timedelta

    from orchestration.lib.governance.credentials import issue

    try:
        issued = issue(name, timedelta(days=days))
    except (KeyError, ValueError) as error:
        typer.echo(f"not issued: {error.args[0]}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"token {issued.token_id} for {issued.consumer}, valid until "
               f"{issued.expires_at:%Y-%m-%d %H:%M} UTC; keep it secret", err=True)
    typer.echo(issued.token)


@consumer_app.command("tokens")
def consumer_tokens() -> None:
    """Every token issued: id, consumer, when issued, until when, whether revoked."""
    from orchestration.lib.governance.credentials import credentials
    from orchestration.lib.settings import current_time

    now = current_time()
    for c in credentials():
        state = c.ended(now) or "active"
        typer.echo(f"{c.token_id}  {c.consumer:<20} issued {c.issued_at:%Y-%m-%d %H:%M}  "
                   f"expires {c.expires_at:%Y-%m-%d %H:%M}  {state}")


@consumer_app.command("revoke")
def consumer_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (steward consumer tokens).")],
) -> None:
    """Revoke a token: the service refuses it from the next request. Audited."""
    from orchestration.lib.governance.credentials import revoke

    try:
        revoked = revoke(token_id)
    except KeyError as error:
        typer.echo(error.args[0], err=True)
        raise typer.Exit(2) from None
    typer.echo(f"revoked token {token_id} of {revoked.consumer}")
