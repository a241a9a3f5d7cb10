"""The Mandarin (zh-CN) language pack: rules, explicit opt-outs, Chinese numerals, callback times, phrases.

Answers are normalised to simplified characters without punctuation or the spaces a recogniser may put between
characters (vosk's Chinese model writes "好 的"); Latin words and Arabic digits keep their spaces. Mandarin has
no spaces between words, so rules are substrings, and the "words" of an answer are its characters.
The semantic bank (pipeline.languages.zh_examples) is embedded by multilingual-e5-small (pipeline.embeddings).
Written before any look at bench/data/nlu_zh beyond its protocol; tuned on its dev split only (docs/NLU.md).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from pipeline.languages import LanguagePack, SpeechDefaults

_CJK = r"\u3400-\u9fff"


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()  # full-width digits and letters -> ASCII
    text = re.sub(rf"[^{_CJK}a-z0-9' ]+", " ", text)
    text = re.sub(rf"(?<=[{_CJK}]) +(?=[{_CJK}0-9])|(?<=[0-9]) +(?=[{_CJK}])", "", text)
    return re.sub(r"\s+", " ", text).strip()


def words(norm: str) -> list[str]:
    """Characters for Chinese, whole tokens for Latin words and numbers."""
    return re.findall(rf"[{_CJK}]|[a-z0-9']+", norm)


def _compile(patterns: list[str]) -> list[re.Pattern]:
    return [re.compile(p) for p in patterns]


_OPT_OUT = [
    r"(别|不要|不用|甭|请勿|勿)(再|总|老|一直|老是)?(给我|给我们|跟我|往这)?(打|来电|联系|骚扰|拨)",
    r"(删|删除|删掉|去掉|移除|注销).{0,6}(号码|电话|名单|信息|资料)",
    r"把我.{0,10}(删|去掉|移除)",
    r"投诉|举报|报警|工信部|12315|拉黑|骚扰|黑名单",
    r"再打.{0,4}就",
    r"有完没完|烦不烦|烦死了|天天打|老打|一直打",
    r"以后(都|也)?(别|不要|不用|甭)",
]
_RULES = [
    ("opt_out", _OPT_OUT),
    (
        "wrong_person",
        [
            r"打错|号码错|错号|找错|搞错|没(有)?这(个)?人|查无此人|没有叫|不认识|不是我|不姓|搬走|不在这(里|儿)?住",
            r"去世|过世|不在了|是他(爸|妈|儿子|女儿|老婆|老公)|我是他|我是她|刚换的|新号|出国|这号我|号码是我的|没听说过",
            r"从来没(有)?(办|预约|买|用|订)过|我不是.{0,3}(先生|女士|小姐|他|她|本人)",
        ],
    ),
    (
        "callback_request",
        [
            r"晚点|晚些|迟点|(待会|等会|一会)儿?(再|打|说|联系|吧|$)|过会|回头|改天|下次|有空再|另外(找|约)(个)?时间",
            r"等我.{0,6}(再|以后|之后)",
            r"过.{0,4}(小时|钟头|分钟)|(小时|钟头|分钟)(以|之)?后",
            r"(今天|明天|后天|下周|下星期|下礼拜|周.|星期.|礼拜.|上午|下午|晚上|中午|早上)(再)?(打|联系|说|来电|找)",
            r"(再|重新)?(打给我|打过来|打来|联系我)|再打|现在不方便|不方便|在(开车|开会|忙|上课)|正(在)?忙|现在不行",
        ],
    ),
    (
        "ask_repeat",
        [
            r"(再|重新)(说|讲|念)(一?(遍|次|下)|说)|重复|没听(清|到|见|明白|懂)|听不(清|到|见|懂)|说(什么|啥)|讲(什么|啥)",
            r"^(啊|嗯|喂)?(什么|啥)$|慢(一)?点|刚才.{0,6}(说|讲)|来着|听不太清|大(一)?点声",
        ],
    ),
    ("affirm", [r"没问题|没事|不错|不介意|何乐而不为|不成问题|^(嗯|对|是)?(是我|我就是|就是我|本人)"]),
    # A real question about the call beats a no ("不续会怎么样"); asking about the robot's words is ask_repeat.
    ("question", [r"怎么样|怎么办|会怎样|是谁|谁啊|多少钱|哪里|哪儿|为什么|多久|多长时间"]),
    (
        "deny",
        [
            r"不(用|要|需要|去|参加|来|了|想|考虑|行|可以|能|会|续|必|感兴趣)|没(兴趣|空|时间|钱|人在)|算了|拒绝",
            r"(来|去|还|到)不了|恐怕|免了|没有?人|没法|没办法|就不.{0,4}了|别(续|办|送|弄)",
        ],
    ),
    (
        "unknown",
        [
            r"不确定|不一定|说不准|不好说|看情况|考虑一下|想一想|问问|等(一)?下|稍等|等等|等一会|^等会|不知道|不清楚|不晓得",
            # fillers, greetings, and answers with no Chinese at all (another language: re-asked)
            r"^(你好|喂|hello|哈喽)+$|^(嗯|呃|啊|哦|唉|那个|这个)+$|^[a-z' ]+$",
        ],
    ),
    ("question", [r"多少|哪(里|儿|家|个|位|天)|什么|怎么|为什么|几(点|楼|号|天)|吗|呢|是谁|谁啊|^谁|转人工|机器人"]),
    (
        "affirm",
        [
            r"好|行|可以|对|是的|是我|^我是|本人|当然|一定|肯定|会去|会来|能来|能到|参加|需要|要的|有人|^ok|^中|没错|就是我",
            r"(去|来|到)的|续(吧|上|一|费吧)|帮我(办|续|弄)|知道了|在家",
        ],
    ),
]
_COMPILED = [(name, _compile(patterns)) for name, patterns in _RULES]
_OPT_OUT_RULES = _compile(_OPT_OUT)
_NEGATION = re.compile(r"不|没|别|甭|莫")
_YES_IDIOMS = re.compile(r"没问题|没事|不错|不介意|何乐而不为|不成问题|不客气|没错|不是吗")

FUZZY_EXAMPLES: dict[str, list[str]] = {  # the rules classifier's examples (letter similarity)
    "affirm": ["好的没问题", "可以的", "行啊"],
    "deny": ["不用了谢谢", "不需要", "不去了"],
    "callback_request": ["晚点再打给我", "明天再打吧", "现在不方便"],
    "opt_out": ["别再打了", "不要再给我打电话", "把我的号码删掉"],
    "wrong_person": ["打错了", "没有这个人", "你找错人了"],
    "ask_repeat": ["再说一遍", "你说什么", "没听清楚"],
}


def negated(norm: str) -> bool:
    return bool(_NEGATION.search(_YES_IDIOMS.sub(" ", norm)))


# --- Chinese numerals --------------------------------------------------------------------------------------

_DIGIT = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
          "八": 8, "九": 9}  # fmt: skip
_UNIT = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_NUMERAL = "零〇一幺二两三四五六七八九十百千万0-9"
# Words with a numeral in them that are not numbers ("一定", "一下"), and time words: never digits.
_NOT_A_NUMBER = re.compile(
    r"一(定|下|点儿|些|起|样|直|般|遍|次|会|共|切|天)|万一|统一|唯一|第一|周[一二三四五六日天]|星期[一二三四五六日天]|"
    rf"礼拜[一二三四五六日天]|[{_NUMERAL}]+ ?(个|点|号|天|月|年|岁|遍|次|位|小时|分钟|钟头|块|元|楼|人)"
)
_DIGIT_FILLER = re.compile(
    r"我的|号码|手机号|电话|是|验证码|后四位|尾号|卡号|密码|嗯|呃|啊|吧|给|打个|分|我看一下|那个|就是|应该|好像|呢|哦|了"
)
DIGIT_SHARE = 0.6  # numerals must make up this share of the characters that are not filler


def cardinal(run: str) -> int:
    """A Chinese number with units: 二十三 -> 23, 十 -> 10, 两千零一十八 -> 2018, 一万二 -> 12000 (loosely)."""
    total, section, digit = 0, 0, None
    for char in run:
        if char in _DIGIT:
            digit = _DIGIT[char]
        elif char == "万":
            total, section, digit = (section + (digit or 0)) * 10000, 0, None
        else:  # 十 百 千: a unit multiplies the digit before it (十 alone is 10)
            section += (1 if digit is None else digit) * _UNIT[char]
            digit = None
    return total + section + (digit or 0)


def _run_digits(run: str) -> str:
    run = run.replace(" ", "")
    if any(c in _UNIT for c in run):
        return str(cardinal(run))
    return "".join(c if c.isdigit() else str(_DIGIT[c]) for c in run)


def spoken_digits(norm: str, share: float = DIGIT_SHARE) -> str | None:
    """幺三八 / 一三八 0013 / 两两七 / 二十三 / 十分 -> the digit string, else None.

    Only when numerals make up `share` of the answer's characters: 我明天下午三点去 is not a digits answer.
    """
    text = _DIGIT_FILLER.sub(" ", _NOT_A_NUMBER.sub("之", norm))
    runs = re.findall(rf"[{_NUMERAL}](?:[{_NUMERAL} ]*[{_NUMERAL}])?", text)
    if not runs:
        return None
    counted = sum(len(r.replace(" ", "")) for r in runs)
    content = len(re.sub(r"\s", "", text))
    if counted / content < share:
        return None
    return "".join(_run_digits(r) for r in runs)


# --- callback times ----------------------------------------------------------------------------------------

_DAYPART_HOURS = {"早上": 9, "上午": 9, "中午": 12, "下午": 14, "傍晚": 17, "晚上": 18, "今晚": 18}
_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_NUM = rf"[{_NUMERAL}]+"


def _number(text: str) -> int:
    return int(text) if text.isdigit() else cardinal(text)


def resolve_callback_time(norm: str, now_local: dt.datetime) -> dt.datetime | None:
    """明天下午 / 下周一上午十点 / 过两个小时 / 周五 / 三点半, in the callee's zone (coarse, like English)."""
    later = re.search(rf"(过)?(半|{_NUM})(个)?(半)?(小时|钟头|分钟)", norm)
    if later and (later.group(1) or re.search(r"(小时|钟头|分钟)(以|之)?后", norm)):
        amount = 0.5 if later.group(2) == "半" else _number(later.group(2)) + (0.5 if later.group(4) else 0)
        minutes = amount if later.group(5) == "分钟" else amount * 60
        # Real minutes in UTC: aware-datetime arithmetic in a zone is wall-clock and drifts across DST.
        moment = now_local.astimezone(dt.UTC) + dt.timedelta(minutes=minutes)
        return moment.astimezone(now_local.tzinfo).replace(second=0, microsecond=0)
    today = now_local.date()
    day = None
    week = re.search(r"(下)?(周|星期|礼拜)([一二三四五六日天])", norm)
    if "今天" in norm or "今晚" in norm:
        day = today
    elif "大后天" in norm:
        day = today + dt.timedelta(days=3)
    elif "后天" in norm:
        day = today + dt.timedelta(days=2)
    elif "明天" in norm:
        day = today + dt.timedelta(days=1)
    elif week:
        index = _WEEKDAY[week.group(3)]
        if week.group(1):  # 下周X: that day of the next calendar week
            day = today + dt.timedelta(days=7 - today.weekday() + index)
        else:
            day = today + dt.timedelta(days=(index - today.weekday() - 1) % 7 + 1)
    elif re.search(r"下(周|星期|礼拜)", norm):
        day = today + dt.timedelta(days=7 - today.weekday())
    part = next((name for name in _DAYPART_HOURS if name in norm), None)
    hour, minute = (_DAYPART_HOURS[part] if part else None), 0
    clock = re.search(rf"({_NUM})点(半|({_NUM})分?)?", norm)
    if clock:
        hour = _number(clock.group(1)) % 24
        minute = 30 if clock.group(2) == "半" else (_number(clock.group(3)) if clock.group(3) else 0)
        if part in ("下午", "傍晚", "晚上", "今晚") and hour < 12:
            hour += 12
    if day is None and hour is None:
        return None
    if day is None:
        day = today if (hour, minute) > (now_local.hour, now_local.minute) else today + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(10 if hour is None else hour, min(minute, 59)), tzinfo=now_local.tzinfo)


def _examples() -> dict[str, list[str]]:
    from pipeline.languages.zh_examples import EXAMPLES

    return EXAMPLES


def _default_script() -> dict:
    from pipeline.languages.zh_examples import DEFAULT_SCRIPT

    return DEFAULT_SCRIPT


PACK = LanguagePack(
    code="zh-CN",
    normalise=normalise,
    opt_out_rules=_OPT_OUT_RULES,
    rules=_COMPILED,
    negated=negated,
    fuzzy_examples=FUZZY_EXAMPLES,
    examples=_examples,
    encoder="e5",
    spoken_digits=spoken_digits,
    resolve_callback_time=resolve_callback_time,
    words=words,
    reprompt_prefix="抱歉，我没有听清楚。",
    opt_out_question="您是希望我们以后不再拨打这个号码吗？",
    opted_out_say="好的，我们以后不会再打扰您。再见。",
    speech=SpeechDefaults(
        gtts_language="zh-CN",
        espeak_voice="cmn",
        piper_voice="",
        whisper_model="",
        vosk_model="vosk-model-small-cn-0.22",
        asr_install_hint="run `manage.py install_vosk_model zh vosk-model-small-cn-0.22` (it downloads the model) "
        "and set the VOSK_MODELS line it prints",
    ),
    default_script=_default_script,
    phone_region="CN",  # 138 0013 8000 and 010 1234 5678 are +86 numbers in a Mandarin campaign
    temperature=0.015,  # chosen on the dev split: no wrong action there, the most answers acted on (0.01: 1 wrong)
    bonus_scale=0.5,
)
