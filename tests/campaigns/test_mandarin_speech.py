"""Mandarin speech for a campaign: the speaker a zh-CN campaign gets, and pre-synthesis of its prompts.

gTTS (zh-CN) is first in the chain; on this machine it cannot reach the internet, so every prompt is spoken by the
offline fallback, espeak-ng's Mandarin voice fed with pinyin (pipeline.tts.mandarin_as_pinyin). Durations are
checked with a stated tolerance, not words.
"""

import pytest

from campaigns import engines
from pipeline.languages import pack
from pipeline.prompts import split_prompts, synthesize_prompts
from pipeline.tts import EspeakTTS, GoogleTTS, mandarin_as_pinyin
from telephony.audio import frames, rms_dbfs
from telephony.interface import SAMPLE_RATE, SILENCE_FRAME
from tests.factories import CampaignFactory

SECONDS_PER_SYLLABLE = (0.12, 0.6)  # espeak-ng at 165 words a minute, pauses included


def test_characters_become_numbered_tone_pinyin():
    assert mandarin_as_pinyin("好的，没问题。") == "hao3 de5, mei2 wen4 ti2."
    assert mandarin_as_pinyin("我们行不行") == "wo3 men5 xing2 bu4 xing2"  # 行 read by context
    assert mandarin_as_pinyin("尾号3369") == "wei3 hao4 3369"


def test_a_mandarin_campaign_speaks_through_gtts_then_espeak_in_mandarin(tmp_path, settings):
    settings.TTS_CACHE_DIR = tmp_path
    settings.GTTS_TIMEOUT_SECONDS = 3.0
    engines.prompt_cache.cache_clear()
    speaker = engines.speaker("", "", "zh-CN")
    assert [type(e) for e in speaker.engines] == [GoogleTTS, EspeakTTS]  # no piper voice speaks Mandarin
    assert speaker.language == "zh-CN" and speaker.voices["espeak"] == "cmn"
    text = "您好，请问您明天上午能按时来吗？"
    audio = speaker.synthesize(text)
    syllables = 15
    seconds = audio.size / SAMPLE_RATE
    assert SECONDS_PER_SYLLABLE[0] * syllables <= seconds <= SECONDS_PER_SYLLABLE[1] * syllables, seconds
    assert speaker.cache.get("espeak", "cmn", "zh-CN", text) is not None  # cached under the voice that spoke it


def test_the_mandarin_default_script_is_pre_synthesised_with_chinese_re_asks(tmp_path, settings):
    settings.TTS_CACHE_DIR = tmp_path
    engines.prompt_cache.cache_clear()
    script = pack("zh-CN").default_script()
    static, personal = split_prompts(script, "zh-CN")
    assert any(text.startswith("抱歉，我没有听清楚。") for text in personal)  # the re-ask, in Mandarin
    speaker = engines.speaker("espeak", "", "zh-CN")
    figures = synthesize_prompts(speaker, script, [{"first_name": "建国"}])
    assert figures["presynth_failed"] == 0
    assert figures["presynth_synthesized"] == len(static) + figures["presynth_personal"]


@pytest.mark.parametrize("voice", ["cmn", "cmn+f3"])
def test_espeak_mandarin_voices_read_characters_not_english_digits(voice):
    espeak = EspeakTTS()
    mandarin = espeak.synthesize("好的", voice, "zh-CN")
    as_english = espeak.synthesize("hay three dee five", "en", "en")  # what Debian's cmn voice said before
    assert mandarin.size < 0.8 * as_english.size, (mandarin.size, as_english.size)


@pytest.mark.django_db
def test_a_mandarin_dry_run_dials_virtual_callees_who_answer_in_mandarin(tmp_path, settings):
    settings.TTS_CACHE_DIR = tmp_path
    settings.SIMULATOR_REALTIME = False
    engines.prompt_cache.cache_clear()
    campaign = CampaignFactory(language="zh-CN", dry_run=True)
    carrier = engines.carrier_for(campaign)
    result = carrier.dial("+8613800138003", campaign.caller_id, 30)  # last digit 3: asks for a callback
    call = result.call
    assert call.lines == ("我现在在忙，明天下午再给我打吧。",)
    robot = engines.speaker("espeak", "", "zh-CN").synthesize("请问您明天能来吗？")
    heard = bytearray()
    for chunk in [*frames(robot), *([SILENCE_FRAME] * 400)]:  # the robot asks, then listens for 8 s
        heard += call.exchange(chunk).pcm
    call.hangup()
    speech = [i for i in range(0, len(heard), 320) if rms_dbfs(bytes(heard[i : i + 320])) > -40]
    spoken_seconds = (speech[-1] - speech[0]) / 320 * 0.02
    syllables = 15
    assert SECONDS_PER_SYLLABLE[0] * syllables <= spoken_seconds <= SECONDS_PER_SYLLABLE[1] * syllables
