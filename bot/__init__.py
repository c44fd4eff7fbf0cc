"""The channel-agnostic conversation engine and the channel adapters."""
