"""`customhouse ledger sequence|checkpoint|key|verify|proof|witness`: the transparency log from the shell.

`verify` exits 1 and lists every finding when anything stored does not match, so that a scheduled
run can alert. `witness` is a round of an independent witness against a log over HTTP: it keeps its
key and its last verified checkpoint in files of its own, and exits 1 when the log fails a check.
"""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import typer

from customhouse.config import get_settings
from customhouse.console import console, errors, local_sessions
from customhouse.ledger import merkle, note, service, witness

app = typer.Typer(help="The transparency log: sequence, verify, prove, witness.", no_args_is_help=True)
proof_app = typer.Typer(help="Inclusion and consistency proofs from the database.", no_args_is_help=True)
app.add_typer(proof_app, name="proof")


def _ledger() -> service.Ledger:
    return service.Ledger.from_settings(get_settings())


def _http(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30)


def _print_json(document: dict[str, Any]) -> None:
    console.print_json(json.dumps(document))


@app.command()
def sequence(limit: int = typer.Option(service.BATCH, help="leaves per transaction")) -> None:
    """Integrate every queued leaf (one transaction and one checkpoint per LIMIT leaves)."""
    ledger = _ledger()
    sessions = local_sessions()
    done = service.Sequencer(lambda: sessions, ledger, limit=limit).run_once()
    if not done:
        console.print("nothing queued: the log is unchanged")
        return
    last = done[-1]
    console.print(
        f"{last.size - done[0].old_size} leaves sequenced in {len(done)} checkpoint(s): "
        f"tree size {last.size}, root {base64.b64encode(last.root).decode()}"
    )


@app.command()
def checkpoint() -> None:
    """Print the newest checkpoint with its cosignatures, as /log/checkpoint serves it."""
    with local_sessions()() as session:
        message = service.checkpoint_message(session)
    if message is None:
        errors.print("the log has signed no checkpoint yet: run `customhouse ledger sequence`")
        raise typer.Exit(1)
    typer.echo(message.decode(), nl=False)


@app.command()
def key() -> None:
    """Print the log's verifier key (creates the signing key at first use)."""
    typer.echo(_ledger().log_key.vkey)


@app.command()
def verify(
    log_key: str | None = typer.Option(
        None, "--log-key", help="the log's verifier key (default: from its key file)"
    ),
    witness_keys: list[str] = typer.Option([], "--witness", help="a witness's verifier key; repeat"),
) -> None:
    """Recompute the log from the database; list every leaf, document, stored hash or checkpoint that
    does not match, and exit 1 if there is any."""
    ledger = _ledger()
    try:
        verifier = note.parse_verifier_key(log_key) if log_key else ledger.log_key
        witnesses = [note.parse_verifier_key(item) for item in witness_keys] or ledger.witnesses
    except note.NoteError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    with local_sessions()() as session:
        result = service.verify(session, log_key=verifier, origin=ledger.origin, witnesses=witnesses)
    summary = (
        f"tree size {result.size}: {result.leaves} leaves, {result.documents} documents, "
        f"{result.checkpoints} checkpoints, {result.cosignatures} cosignatures checked"
    )
    if not result.findings:
        console.print(f"{summary}: everything matches")
        return
    for finding in result.findings:
        console.print(f"[red]{finding.kind}[/red] {finding}", highlight=False, soft_wrap=True)
    console.print(f"{summary}: {len(result.findings)} finding(s)")
    raise typer.Exit(1)


@proof_app.command("inclusion")
def proof_inclusion(
    index: int | None = typer.Option(None, "--index", help="the leaf's index"),
    leaf_hash: str | None = typer.Option(None, "--leaf-hash", help="the leaf's hash (hex)"),
    aggregate_id: str | None = typer.Option(None, "--aggregate-id", help="the document's aggregate id"),
    aggregate_type: str = typer.Option("declaration", "--aggregate-type", help="with --aggregate-id"),
    type: str | None = typer.Option(None, "--type", help="with --aggregate-id: the leaf type"),
    size: int | None = typer.Option(None, "--size", help="the tree size (default: the newest)"),
) -> None:
    """Print the inclusion proof(s) of a leaf or a document as JSON, checked against the root."""
    if sum(value is not None for value in (index, leaf_hash, aggregate_id)) != 1:
        errors.print("give exactly one of --index, --leaf-hash, --aggregate-id")
        raise typer.Exit(2)
    with local_sessions()() as session:
        try:
            if index is not None:
                indexes = [index]
            else:
                wanted = bytes.fromhex(leaf_hash) if leaf_hash else None
                indexes = service.leaf_indexes(
                    session, leaf_hash=wanted, subject_id=aggregate_id, subject_type=aggregate_type, type=type
                )
            if not indexes:
                raise service.NotFound("no sequenced leaf is the one named")
            proofs = [service.inclusion_proof(session, index=found, size=size) for found in indexes]
        except (service.LedgerError, ValueError) as error:
            errors.print(f"[red]{error}[/red]")
            raise typer.Exit(1) from None
    for proof in proofs:
        merkle.verify_inclusion(
            index=proof.index, size=proof.size, leaf=proof.leaf_hash, proof=proof.proof, root=proof.root
        )
    _print_json(
        {
            "tree_size": proofs[0].size,
            "root_hash": proofs[0].root.hex(),
            "proofs": [
                {
                    "index": proof.index,
                    "type": proof.type,
                    "leaf_hash": proof.leaf_hash.hex(),
                    "entry": base64.b64encode(proof.entry).decode(),
                    "proof": [item.hex() for item in proof.proof],
                }
                for proof in proofs
            ],
        }
    )


@proof_app.command("consistency")
def proof_consistency(old: int, new: int | None = typer.Argument(None, help="default: the newest")) -> None:
    """Print the consistency proof from tree size OLD to NEW as JSON, checked against both roots."""
    with local_sessions()() as session:
        try:
            proof = service.consistency_proof(session, old_size=old, new_size=new)
        except service.LedgerError as error:
            errors.print(f"[red]{error}[/red]")
            raise typer.Exit(1) from None
    merkle.verify_consistency(
        old_size=proof.old_size,
        new_size=proof.new_size,
        old_root=proof.old_root,
        new_root=proof.new_root,
        proof=proof.proof,
    )
    _print_json(
        {
            "old_size": proof.old_size,
            "new_size": proof.new_size,
            "old_root": proof.old_root.hex(),
            "new_root": proof.new_root.hex(),
            "proof": [item.hex() for item in proof.proof],
        }
    )


@app.command("witness")
def witness_round(
    url: str = typer.Option(..., "--url", help="the log server's address, e.g. https://customs.example"),
    key_file: Path = typer.Option(..., "--key", help="this witness's key file (created at first use)"),
    log_key: str = typer.Option(..., "--log-key", help="the log's verifier key, as /log/key publishes it"),
    state: Path | None = typer.Option(
        None, "--state", help="the last verified checkpoint (default: KEY.state)"
    ),
    name: str | None = typer.Option(None, "--name", help="this witness's key name, at creation"),
    origin: str | None = typer.Option(None, "--origin", help="the log's origin (default: its key's name)"),
) -> None:
    """Check the log's newest checkpoint against the last one this witness verified, and cosign it."""
    try:
        verifier = note.parse_verifier_key(log_key)
        signer = service.load_signer(
            key_file, name=name or f"witness-{socket.gethostname()}", key_type=note.KEY_COSIGNATURE
        )
    except note.NoteError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    try:
        with _http(url) as client:
            done = witness.cosign(
                witness.HttpLog(client),
                signer=signer,
                log_key=verifier,
                origin=origin or verifier.name,
                state=state or key_file.with_name(key_file.name + ".state"),
            )
    except (witness.WitnessError, httpx.HTTPError) as error:
        errors.print(f"[red]not cosigned:[/red] {error}", soft_wrap=True)
        raise typer.Exit(1) from None
    since = "first checkpoint seen" if done.old_size is None else f"consistent with size {done.old_size}"
    console.print(f"cosigned tree size {done.size} ({since}) as {signer.verifier.vkey}", highlight=False)


@app.command("witness-key")
def witness_key(
    key_file: Path = typer.Option(..., "--key", help="the witness's key file (created at first use)"),
    name: str | None = typer.Option(None, "--name", help="the key name, at creation"),
) -> None:
    """Print a witness's verifier key, to give to the log's operator (CUSTOMHOUSE_LEDGER_WITNESSES)."""
    signer = service.load_signer(
        key_file, name=name or f"witness-{socket.gethostname()}", key_type=note.KEY_COSIGNATURE
    )
    typer.echo(signer.verifier.vkey)
