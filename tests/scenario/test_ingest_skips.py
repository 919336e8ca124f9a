"""/ingest in Slack: the progress message and the App Home end with the skips by cause."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from examples.hwp_writer import hwp_file
from fakes.bedrock import FakeBedrock
from fakes.harness import ADMIN
from fakes.slack import FakeSlack, Message
from tests.scenario.bots import CHANNEL, start_bot
from tests.scenario.test_operations import view_text


async def test_ingest_summary_and_app_home_group_the_skips_by_cause(
    slack_settings: Settings, slack: FakeSlack, bedrock: FakeBedrock, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "ok.md").write_text("# Cafeteria\n\nThe cafeteria opens at 8.", "utf-8")
    for name in ("a.xls", "b.xls"):
        (folder / name).write_bytes(b"\xd0\xcf\x11\xe0")
    (folder / "locked.hwp").write_bytes(hwp_file(["비밀"], flags=0b11))
    settings = slack_settings.model_copy(update={"index_uri": str(tmp_path / "index")})
    running = await start_bot(settings, slack)
    slack.join(CHANNEL)  # /ingest reports in the channel only where the bot is a member
    try:
        slack.push_slash_command("/ingest", str(folder), ADMIN, CHANNEL)

        def final() -> Message | None:
            return next(
                (m for m in slack.messages(CHANNEL) if m.bot_id and "added" in m.text), None
            )

        summary = await slack.wait_for_async(final, 30)
        base = folder.as_posix()
        expected = [
            f"• 2 skipped: unsupported file type .xls ({base}/a.xls, {base}/b.xls)",
            f"• 1 skipped: password-protected ({base}/locked.hwp)",
        ]
        assert summary.text.split("\n")[-2:] == expected

        slack.push_event(
            {"type": "app_home_opened", "user": ADMIN, "channel": "D0X", "tab": "home"}
        )
        home = view_text(await slack.wait_for_async(lambda: slack.home_view(ADMIN), 10))
        assert all(line in home for line in expected)
    finally:
        await running.handler.close_async()
