"""The Slack side: a Bolt AsyncApp on Socket Mode (listeners, delivery, rendering, serving)."""
