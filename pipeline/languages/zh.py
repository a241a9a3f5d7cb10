"""The Mandarin (zh-CN) language pack: rules, explicit opt-outs, Chinese numerals, callback times, phrases.

Answers are normalised to simplified characters without punctuation or the spaces a recogniser may put between
characters (vosk's Chinese model writes "好 的"); Latin words and Arabic digits keep their spaces. Mandarin has
no spaces between words, so rules are substrings, and the "words" of an answer are its characters.
The semantic bank (pipeline.languages.zh_examples) is embedded by multilingual-e5-small (pipeline.embeddings).
Written before any look at bench/data/nlu_zh beyond its protocol; tuned on its dev split only (docs/NLU.md).
"""

from __future__ import annotations

import re
import unicodedata

from pipeline.languages import LanguagePack, SpeechDefaults
from pipeline.languages.zh_numbers import cardinal, resolve_callback_time, spoken_digits

__all__ = ["PACK", "cardinal", "normalise", "resolve_callback_time", "spoken_digits"]

_CJK = r"\u3400-\u9fff"


# Words a recogniser mishears into a homophone that hides the answer (拉黑 -> 垃黑, 再打 -> 在打): put back.
_MISHEARD = [
    (re.compile(r"垃黑"), "拉黑"),
    (re.compile(r"头诉"), "投诉"),
    (re.compile(r"达错|打措"), "打错"),
    (re.compile(r"布(?=要|用|需要)"), "不"),
    (re.compile(r"(?<=别|要|用|甭)在(?=打|来|给|联系)|在(?=说一遍|说一次|讲一遍)"), "再"),
    (re.compile(r"^号的"), "好的"),
    # regional words read as Mandarin (Wu, northern, south-western, Cantonese): the rules and the bank know these
    (re.compile(r"侬"), "你"),
    (re.compile(r"俺"), "我"),
    (re.compile(r"阿拉"), "我们"),
    (re.compile(r"咋整|咋办"), "怎么办"),
    (re.compile(r"咋"), "怎么"),
    (re.compile(r"嘎哈|干哈|弄啥|干啥"), "干什么"),
    (re.compile(r"勿要|覅"), "不要"),
    (re.compile(r"(?<=[好行对是要])伐"), "吗"),
    (re.compile(r"冇得|莫得|么得|木有|冇"), "没有"),
    (re.compile(r"晓得"), "知道"),
    (re.compile(r"佢"), "他"),
    (re.compile(r"乜嘢"), "什么"),
    (re.compile(r"^要得|要得$"), "好的"),
    (re.compile(r"巴适|得劲"), "很好"),
    # a negated negative is a yes: 不是不行 -> 行, 不是不方便 -> 方便, 没有不满意的 -> 满意的
    (re.compile(r"不是不(?=[^是\s])|没(有)?不(?=满意|同意|愿意|喜欢)"), ""),
]


_CORRECTION = re.compile(
    r"(?:哦|噢|啊|呃)不(?:对|(?=[一二两三四五六七八九十零幺0-9明后下上今周星礼]))|不对不对|我是说|我说错了|说错了|更正一下"
)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()  # full-width digits and letters -> ASCII
    text = re.sub(rf"[^{_CJK}a-z0-9' ]+", " ", text)
    text = re.sub(rf"(?<=[{_CJK}]) +(?=[{_CJK}0-9])|(?<=[0-9]) +(?=[{_CJK}])", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    for pattern, meant in _MISHEARD:
        text = pattern.sub(meant, text)
    final = _CORRECTION.split(text)[-1].strip()
    if len(final) >= 2 and final != text:  # "明天 哦不对 后天吧": 后天吧
        text = final
    return text


def words(norm: str) -> list[str]:
    """Characters for Chinese, whole tokens for Latin words and numbers."""
    return re.findall(rf"[{_CJK}]|[a-z0-9']+", norm)


def _compile(patterns: list[str]) -> list[re.Pattern]:
    return [re.compile(p) for p in patterns]


_NOT_A_CALL = "针|疫苗|球|牌|车|折|扫|工|游戏|卡|算|包|印|开|架|听"  # 打针, 打车, 打折, 打算 ...: not a call
_OPT_OUT = [
    rf"(别|不要|不用|甭|请勿|勿|勿要|莫)(再|总|老|一直|老是)?(给我|给我们|跟我|往这)?(打(?!{_NOT_A_CALL})|来电|联系|骚扰|拨)",
    r"(删|删除|删掉|去掉|移除|注销).{0,6}(号码|电话|名单|信息|资料)",
    r"把我.{0,10}(删|去掉|移除)",
    r"投诉|举报|报警|工信部|12315|拉黑|骚扰|黑名单|免打扰",
    r"再打.{0,4}就|下辈子再|别烦我|烦死|^滚|滚(蛋|开)",
    # anger at being called again and again is a request to stop (label rules 3.1)
    r"有完没完|烦不烦|天天打|老打|一直打|又打(来|过来|电话)|怎么又|(一天|每天|天天).{0,3}打.{0,3}(遍|次|个)|第.个(电话)?了",
    r"以后(都|也)?(别|不要|不用|甭)",
]
_RELATIVE = r"(他|她)的?(爸|妈|爸爸|妈妈|儿子|女儿|老婆|老公|爱人|家人|亲戚)"
_RULES = [
    ("opt_out", _OPT_OUT),
    ("unknown", [r"^(你|您)?(先|稍)?等(一)?(下|会儿?|等|一等)(我)?(?!.*(再|打|联系|说|以后|之后))"]),
    (
        "wrong_person",
        [
            r"打错|号码错|错号|找错|搞错|没(有)?这(个)?人|查无此人|没有叫|不认识|不是我|不姓|搬走|不在这(里|儿)?住",
            r"去世|过世|不在了|是他(爸|妈|儿子|女儿|老婆|老公)|刚换的|新号|换号|出国|这号我|号码是我的|没听说过",
            r"从来没(有)?(办|预约|买|用|订)过|我不是.{0,3}(先生|女士|小姐|他|她|本人|机主)|不是机主|借.{0,4}(手机|电话)",
            # someone else answering for the person asked for: a relative, a carer, a neighbour
            r"(?<!对)(?<!是)我是(他|她)(?!本人)|是我(的)?(爸|妈|爸爸|妈妈|儿子|女儿|老婆|老公|爱人|邻居|同事)|保姆|邻居",
            r"(他|她)(现在|今天|人)?(不在|住院|出差|出门|出去了|上班去了|接不了)",
        ],
    ),
    (
        "callback_request",
        [
            r"晚点|晚些|迟点|(待会|等会|一会)儿?(再|打|说|联系|吧|$)|过会|回头|改天|下次(再)?(打|说|联系|吧)|有空再|另外(找|约)(个)?时间",
            r"等我.{0,6}(再|以后|之后)",
            r"过.{0,4}(小时|钟头|分钟)|(小时|钟头|分钟)(以|之)?后",
            r"(今天|明天|后天|下周|下星期|下礼拜|周.|星期.|礼拜.|上午|下午|晚上|中午|早上|周末|明早|明晚)(再)?(打|联系|说|来电|找)",
            r"(明天|后天|明早|明晚|晚上|下午|上午|中午|周末|下周.?|星期.|礼拜.).{0,3}再(说|聊)",
            r"(点|点钟|点半|号)(以后|之后|后|左右)?(再)?(打|联系|来电)",
            r"(再|重新)(打给我|打过来|打来|联系我)|打给我|给我(打|回电|回个)|联系我|再打|现在不方便|不(太)?方便|在(开车|开会|忙|上课)|正(在)?忙|现在不行",
            r"正(在)?(带|开|上|做|吃|洗|睡|办|陪).{0,3}(呢|着)",
        ],
    ),
    (
        "ask_repeat",
        [
            r"(再|重新)(说|讲|念)(一?(遍|次|下)|说)|重复|没听(清|到|见|明白|懂)|听不(清|到|见|懂)|说(什么|啥)|讲(什么|啥)",
            r"^(啊|嗯|喂)*(什么|啥)$|慢(一)?点|刚(才)?.{0,6}(说|讲)|来着|听不太清|大(一)?点声",
            # checking what the robot said: 你是说九点吗, 是十号对吧
            r"你是说|是说|你说的是|说的是(几|多少|哪)|是不是说|对吧$|对不对$",
        ],
    ),
    ("unknown", [r"又好像|是也不是|也是也不是|说.{0,4}也.{0,4}说不"]),  # yes and no: undecided
    (
        "affirm",
        [
            r"没问题|没事|不错|不介意|何乐而不为|不成问题|没(什么|啥)问题|没得说|没毛病|(?<![不没])(清楚|明白|记住|懂)了|^(嗯|对|是)?(是我|我就是|就是我|本人)",
            r"(什么时候|几点|哪天|怎么样|随便)(都|也)(行|可以|方便|没问题)|没(什么|啥)(意见|不满|要求|说的)",
        ],
    ),
    # A real question about the call beats a no ("不续会怎么样", "能不能约下午", "是免费的吗 不会让我买东西吧");
    # asking about the robot's words is ask_repeat.
    (
        "question",
        [
            r"(?<!不)怎么样|怎么办|会怎样|是谁|谁啊|多少钱|哪里|哪儿|为什么|多久|多长时间|有没有|([能可是要会行去来])不\1",
            r"(?<!不是)吗|啥(地方|单位|公司|事)|干啥|弄啥|什么事|在哪|找谁|谁(来|修|负责|管|给)",
        ],
    ),
    (
        "deny",
        [
            r"不(用|要|需要|去|参加|来|了|想|考虑|行|可以|能|会|续|必|感兴趣)|没(兴趣|空|时间|钱|人在)|算了|拒绝",
            r"(来|去|还|到)不了|恐怕|免了|没有?人|没法|没办法|就不.{0,4}了|别(续|办|送|弄)|不.{1,2}了|已经.{1,6}了",
            r"(应该|估计|可能|大概|怕是)(是)?(不|没|去不|来不)",  # a hedged no
            # a bad rating, and sarcasm (呵呵 is a sneer in Chinese chat)
            r"不(太)?满意|差评|太差|一般般|不咋样|不怎么样|呵呵|太贵",
            r"^(不|没|别|甭)(?!知道|清楚|确定|一定|好说|晓得|准)",  # starts with a no (the specific rules came first)
        ],
    ),
    (
        "unknown",
        [
            r"不确定|不一定|说不准|不好说|看情况|考虑一下|想一想|问问|等(一)?下|稍等|等等|等一会|^等会|不知道|不清楚|不晓得",
            r"^(谢谢|多谢|拜拜|再见|哈哈|嘟)|考虑考虑|再想想|想想|得看|商量|又好像|是也不是|也是也不是|也许|或许|^可能吧|到时候(再说|看)|再看看|不好讲",
            # talking to someone else in the room, small talk
            r"(老婆|老公|妈|爸|儿子|闺女)你(来)?(听|接|电话)|你来(听|接)|把(电视|门|窗|火|水|灯|声音).{0,4}(关|开|调|拿)|天气",
            # fillers, greetings, and answers with no Chinese at all (another language: re-asked)
            r"^(你好|喂|hello|哈喽)+$|^(嗯|呃|啊|哦|唉|那个|这个)+$|^[a-z' ]+$",
        ],
    ),
    (
        "question",
        [
            r"多少|哪(里|儿|家|个|位|天)|(?<!没)(?<!没有)什么|(?<!不)怎么|为什么|几(点|楼|号|天)|吗|呢|是谁|谁啊|^谁|转人工|机器人|真人"
        ],
    ),
    (
        "affirm",
        [
            r"好|行|可以|对|是的|是我|^我是|本人|当然|一定|肯定|会去|会来|能来|能到|参加|需要|要的|有人|^ok|^中|没错|就是我",
            r"(去|来|到)的|续(吧|上|一|费)|帮我(办|续|弄)|知道了|在家|满意|方便|(你)?(说|问)吧|妥|安排|得嘞|好嘞|杠杠|绝绝子|^冲",
        ],
    ),
]
_COMPILED = [(name, _compile(patterns)) for name, patterns in _RULES]
_OPT_OUT_RULES = _compile(_OPT_OUT)
_NEGATION = re.compile(r"不|没|别|甭|莫")
_YES_IDIOMS = re.compile(
    r"没问题|没事|不错|不介意|何乐而不为|不成问题|不客气|没错|不是吗|没(什么|啥)问题|没得说|没毛病"
)
_A_NOT_A = re.compile(r"([能可是要会有行对好去来])不\1|有没有|可不可以")  # a question form, not a no

FUZZY_EXAMPLES: dict[str, list[str]] = {  # the rules classifier's examples (letter similarity)
    "affirm": ["好的没问题", "可以的", "行啊"],
    "deny": ["不用了谢谢", "不需要", "不去了"],
    "callback_request": ["晚点再打给我", "明天再打吧", "现在不方便"],
    "opt_out": ["别再打了", "不要再给我打电话", "把我的号码删掉"],
    "wrong_person": ["打错了", "没有这个人", "你找错人了"],
    "ask_repeat": ["再说一遍", "你说什么", "没听清楚"],
}


def negated(norm: str) -> bool:
    return bool(_NEGATION.search(_A_NOT_A.sub(" ", _YES_IDIOMS.sub(" ", norm))))


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
