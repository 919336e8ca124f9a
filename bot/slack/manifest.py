"""The Slack app manifest: paste it at api.slack.com/apps -> Create New App -> From a manifest."""

from __future__ import annotations

from typing import Any

BOT_SCOPES = [
    "app_mentions:read",  # @mentions in channels
    "assistant:write",  # the AI-app side panel: status, suggested prompts
    "channels:history",  # follow-ups in threads the bot answered (public channels)
    "groups:history",  # ... and private channels it was invited to
    "im:history",  # DMs
    "mpim:history",  # group DMs the bot was added to: mentions and thread follow-ups
    "chat:write",  # answers, streaming, progress messages
    "commands",  # /ask, /ingest
    "reactions:write",  # the 👀 sign of work
    "users:read",  # the user's locale, a hint for short messages
]

BOT_EVENTS = [
    "app_mention",
    "message.channels",
    "message.groups",
    "message.im",
    "message.mpim",
    "assistant_thread_started",
    "assistant_thread_context_changed",
    "app_home_opened",  # the Home tab: last ingest, collections, the week's gaps
]


def manifest(name: str = "dualnova") -> dict[str, Any]:
    description = "Answers questions from the team's documents, in the language you ask in."
    return {
        "display_information": {
            "name": name,
            "description": description,
            "background_color": "#1d3557",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": name, "always_online": True},
            "assistant_view": {"assistant_description": description},
            "slash_commands": [
                {
                    "command": "/ask",
                    "description": "Ask privately; share the answer if it helps",
                    "usage_hint": "How do I set up the VPN?",
                    "should_escape": False,
                },
                {
                    "command": "/dualnova",
                    "description": "Settings and reports: language, usage, help",
                    "usage_hint": "help",
                    "should_escape": False,
                },
                {
                    "command": "/glossary",
                    "description": "Glossary terms; admins add or remove them",
                    "usage_hint": "[add TERM ko=… ja=… --dnt | remove TERM]",
                    "should_escape": False,
                },
                {
                    "command": "/ingest",
                    "description": "Admins: load documents into the index",
                    "usage_hint": "[s3://bucket/prefix | status] [--full] [--collection NAME]",
                    "should_escape": False,
                },
            ],
        },
        "oauth_config": {"scopes": {"bot": BOT_SCOPES}},
        "settings": {
            "event_subscriptions": {"bot_events": BOT_EVENTS},
            "interactivity": {"is_enabled": True},
            "org_deploy_enabled": False,
            "socket_mode_enabled": True,
            "token_rotation_enabled": False,
        },
    }
