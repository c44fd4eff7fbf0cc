"""Settings of the bot (NLU, channels), from the environment and `.env`."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class BotSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    #: The Rasa server, or several separated by commas: parses are spread over them and fail over (bot/nlu_client.py).
    nlu_url: str = "http://127.0.0.1:5005"
    nlu_timeout: float = Field(default=3.0, gt=0, le=60)
    #: A server that failed is skipped this long; with several servers each is probed this often.
    nlu_cooldown_seconds: float = Field(default=10.0, ge=0, le=600)
    nlu_check_seconds: float = Field(default=5.0, gt=0, le=600)
    #: Below this intent confidence the bot asks instead of answering.
    nlu_threshold: float = Field(default=0.45, ge=0, le=1)
    #: Safety beats thresholds: emergency is chosen when its score reaches this floor, even if it isn't first.
    nlu_emergency_floor: float = Field(default=0.2, ge=0, le=1)

    #: Threads for the engine's database work in one app process (keep at or under the DB pool's size).
    worker_threads: int = Field(default=20, ge=1, le=200)
    #: The outbox worker: how often it looks for due work, how long a claim (lease) on a conversation lasts,
    #: how long it leaves a fresh message to the process that stored it.
    worker_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    worker_lease_seconds: float = Field(default=30.0, gt=0, le=600)
    worker_grace_seconds: float = Field(default=5.0, ge=0, le=600)
    #: Attempts before a message or reply is marked dead, and the first retry delay (doubling each time).
    outbox_max_attempts: int = Field(default=6, ge=1, le=50)
    outbox_backoff_seconds: float = Field(default=2.0, gt=0, le=3600)
    #: A claimed handoff whose volunteer has not written for this long goes back to the queue.
    handoff_silence_minutes: float = Field(default=10.0, gt=0, le=24 * 60)
    #: How often each worker looks whether a minimum wage takes effect today (bot/reminders.py: its note goes
    #: once, whichever process makes the run first).
    reminder_check_seconds: float = Field(default=60.0, gt=0, le=3600)
    #: Optional: a volunteers' Telegram group told of each new urgent handoff (language, reason, a link; no
    #: personal data). Off unless set; needs the Telegram channel on.
    handoff_notify_telegram_chat: str | None = None
    #: The public address of the inbox, for links in those notifications (e.g. https://help.example.org).
    inbox_public_url: str | None = None

    #: Rate limits (bot/ratelimit.py), counted in the database so they hold across processes. A trainee's messages
    #: per conversation: 10 in a 30-second window. A frightened person on a phone writes in bursts of short lines
    #: (3-6 lines in ten seconds, then waits for the answers) and taps buttons; 10 lets a whole burst and a few taps
    #: through, and is above what anyone keeps up for half a minute (a line every 3 s). Beyond it messages wait for
    #: the window's end (one notice); beyond `rate_flood_factor` times it (30 in 30 s: a line a second, a script)
    #: they are kept but never answered. Danger words are never held. The web chat also counts per client address
    #: (a browser mints identities by dropping its cookie), and only holds beyond it, never floods: a dormitory, a
    #: support office or a mobile carrier's shared address (carrier-grade NAT) may carry many trainees; 600 per
    #: window (20 a second) lets them through. 0 turns the address limits off.
    rate_window_seconds: float = Field(default=30.0, gt=0, le=3600)
    rate_messages: int = Field(default=10, ge=1, le=10_000)
    rate_flood_factor: float = Field(default=3.0, ge=1, le=1000)
    rate_web_address_messages: int = Field(default=600, ge=0, le=100_000)
    #: New handoffs a trainee may ask for (an emergency is never refused): 3 a day per conversation (re-asking
    #: after each close), and on the web chat 10 an hour per client address (a support office or a dormitory may
    #: share one; a script minting identities would fill the volunteers' queue).
    rate_handoffs_per_day: int = Field(default=3, ge=1, le=1000)
    rate_web_address_handoffs_per_hour: int = Field(default=10, ge=0, le=10_000)

    #: Retention (bot/retention.py): messages older than this many days are deleted, and a conversation left
    #: without messages, unless it has an open handoff; the job runs this often (in one process at a time),
    #: deleting at most `retention_batch` rows per transaction.
    retention_days: int = Field(default=180, ge=1, le=3650)
    retention_every_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    retention_batch: int = Field(default=500, ge=1, le=100_000)

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    #: Bot API base URL (tests point it at a local capture server). PTB appends the token.
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    #: Public URL to register with setWebhook; empty means: don't call setWebhook.
    telegram_webhook_url: str | None = None

    zalo_app_id: str | None = None
    zalo_app_secret: SecretStr | None = None
    zalo_oa_secret_key: SecretStr | None = None
    zalo_access_token: SecretStr | None = None
    zalo_refresh_token: SecretStr | None = None
    zalo_api_base_url: str = "https://openapi.zalo.me"
    zalo_oauth_base_url: str = "https://oauth.zaloapp.com"

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None

    @property
    def zalo_enabled(self) -> bool:
        return self.zalo_oa_secret_key is not None and self.zalo_app_id is not None
