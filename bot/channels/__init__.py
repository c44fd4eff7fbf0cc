"""Channel adapters: transport payloads in, `bot.schemas.Inbound` out; replies rendered and sent back."""
