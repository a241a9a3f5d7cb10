"""Speech engines from settings (campaigns.engines) and prompt pre-synthesis with its cache figures."""

import pytest

from campaigns import engines, prompt_stats
from campaigns.services import presynthesis
from tests.factories import CampaignFactory, ContactFactory


def test_campaign_voice_setting_reaches_each_engine(settings, tmp_path):
    settings.TTS_CACHE_DIR = tmp_path
    engines.prompt_cache.cache_clear()
    try:
        speaker = engines.speaker("espeak", "en-gb+f3")
        assert speaker.voices == {"espeak": "en-gb+f3"}
        speaker("Hello there.")
        assert list((tmp_path / "espeak").rglob("*.wav"))
        assert speaker.cache.path_for("espeak", "en-gb+f3", "en", "Hello there.").exists()
        chained = engines.speaker("piper", "piper=joe, espeak=en-us+m3")
        assert [e.name for e in chained.engines] == ["piper", "espeak"]
        assert chained.voices == {"piper": "joe", "espeak": "en-us+m3"}
    finally:
        engines.prompt_cache.cache_clear()


SCRIPT = {
    "start": "ask",
    "nodes": {
        "ask": {
            "type": "ask",
            "say": "Hello {first_name}, will you attend?",
            "on": {"affirm": "yes"},
            "otherwise": "bye",
        },
        "yes": {"type": "end", "say": "Thank you. Goodbye.", "outcome": "interested"},
        "bye": {"type": "end", "say": "Goodbye.", "outcome": "unclear"},
    },
}


@pytest.mark.django_db
def test_presynthesize_static_and_next_contacts_prompts(settings, tmp_path):
    settings.TTS_CACHE_DIR = tmp_path
    engines.prompt_cache.cache_clear()
    campaign = CampaignFactory(script=SCRIPT, tts_engine="espeak")
    names = ["Ada", "Bob", "Cy", "Dee"]
    for name in names:
        ContactFactory(campaign=campaign, first_name=name)
    prompt_stats.reset_stats(campaign.id)
    try:
        figures = presynthesis.presynthesize(campaign.id, next_contacts_count=3)
        assert figures["presynth_static"] == 2  # the two goodbyes
        assert figures["presynth_contacts"] == 3
        assert figures["presynth_personal"] == 6  # prompt and re-prompt for Ada, Bob, Cy
        assert figures["presynth_synthesized"] == 8 and figures["presynth_already_cached"] == 0
        cache = engines.prompt_cache()
        assert cache.path_for("espeak", "", "en", "Hello Ada, will you attend?").exists()
        assert not cache.path_for("espeak", "", "en", "Hello Dee, will you attend?").exists()

        again = presynthesis.presynthesize(campaign.id, next_contacts_count=4)
        assert (again["presynth_synthesized"], again["presynth_already_cached"]) == (2, 8)
        assert prompt_stats.cache_stats(campaign.id)["presynth_contacts"] == 4

        # A call's speaker counts its lookups for the campaign: pre-synthesised prompts are hits.
        live = engines.speaker(
            campaign.tts_engine, campaign.voice, campaign.language, on_lookup=prompt_stats.lookup_counter(campaign.id)
        )
        live("Hello Bob, will you attend?")
        live("Thank you. Goodbye.")
        live("Hello Eve, will you attend?")
        stats = prompt_stats.cache_stats(campaign.id)
        assert (stats["call_hits"], stats["call_misses"]) == (2, 1)
        assert stats["call_hit_rate"] == pytest.approx(2 / 3, abs=1e-3)
    finally:
        prompt_stats.reset_stats(campaign.id)
        engines.prompt_cache.cache_clear()
