"""Mandarin numbers and times for the zh-CN pack: spoken digits (Chinese numerals, mixed with Arabic digits) and
callback times resolved in the callee's zone.

General mechanisms, not phrase lists: numerals read digit by digit or with units, several numbers with units
in a row (四十七八十八 -> 4788), "N个M" (六个六 -> 666666), a score ("七分吧" -> 7), a self-correction (the
part after 不对 / 说错了 wins), and numeral homophones a recogniser writes inside a run of numerals (期八九 ->
789). Times: days, weekdays, weekends, dates (三月十号), parts of the day, clock hours (a bare 1-6 o'clock is
the afternoon, a passed morning hour today is the evening), and intervals.
"""

from __future__ import annotations

import datetime as dt
import re

from pipeline.languages import after_interval

_DIGIT = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
          "八": 8, "九": 9}  # fmt: skip
_UNIT = {"十": 10, "百": 100, "千": 1000, "万": 10000}
NUMERAL = "零〇一幺二两三四五六七八九十百千万0-9"
# Words with a numeral in them that are not numbers ("一定", "一下"), and time words: never digits.
_NOT_A_NUMBER = re.compile(
    r"一(定|下|点儿|些|起|样|直|般|遍|次|会|共|切|天)|万一|统一|唯一|第一|周[一二三四五六日天]|星期[一二三四五六日天]|"
    rf"礼拜[一二三四五六日天]|[{NUMERAL}]+ ?(个|点|号|天|月|年|岁|遍|次|位|小时|分钟|钟头|楼|人)"
)
_DIGIT_FILLER = re.compile(
    r"我的|号码|手机号|电话|是|验证码|后[四六]位|尾号|卡号|密码|嗯|呃|啊|吧|给|打个|分|我看一下|那个|就是|应该|好像|呢|哦|"
    r"了|保单号?|身份证号?|证件号?|就诊卡号?|病历号?|\b(ok|okay|yes|yeah)\b|左右|大概|差不多|块钱?|元|以上|至少|起码|最少"
)
DIGIT_SHARE = 0.6  # numerals must make up this share of the characters that are not filler
# What a recogniser writes for a numeral it misheard, read as that numeral only beside another numeral.
_HOMOPHONE = str.maketrans(
    "期其妻无吴伞散久酒巴扒留溜刘思死斯尔衣依腰妖灵铃", "七七七五五三三九九八八六六六四四四二一一幺幺零零"
)
_CORRECTION = re.compile(r"不对|说错了|错了|我是说|更正一下|应该是")
_REPEAT = re.compile(
    r"([一二两三四五六七八九十])个([零〇一幺二两三四五六七八九])(?![个点号天月年岁遍次位小时分钟块元楼人])"
)
# A score out of ten: N分, not 三分钟 / 三分之一 / 五点十分, and 十分 only on its own (十分满意 is "very").
_SCORE = re.compile(
    rf"(?<![点{NUMERAL}])(?:([{NUMERAL}]{{1,3}})(?<!^十)(?<![^{NUMERAL}]十)分(?!钟|之)|(十)分(?=$|吧|啊|呀))"
)


def cardinal(run: str) -> int:
    """A Chinese number with units: 二十三 -> 23, 十 -> 10, 两千零一十八 -> 2018, 3千 -> 3000, and the spoken
    elision of the last unit: 一万二 -> 12000, 三千五 -> 3500, 两百五 -> 250 (一百零五 stays 105)."""
    total, section, digit, last_unit = 0, 0, None, None
    for char in run:
        if char.isdigit() or char in _DIGIT:
            digit = int(char) if char.isdigit() else _DIGIT[char]
        elif char == "万":
            total, section, digit, last_unit = (section + (digit or 0)) * 10000, 0, None, 10000
            continue
        else:  # 十 百 千: a unit multiplies the digit before it (十 alone is 10)
            section += (1 if digit is None else digit) * _UNIT[char]
            digit, last_unit = None, _UNIT[char]
            continue
        if char in "零〇":
            last_unit = None  # 一百零五: the digit after 零 is units
    if digit is not None and last_unit and last_unit >= 100 and run[-2:-1] not in ("零", "〇"):
        digit *= last_unit // 10  # the unit left unsaid after the last digit
    return total + section + (digit or 0)


def _groups(run: str) -> list[str]:
    """Numbers with units said one after another: 四十七八十八 -> 四十七, 八十八; 二十三零五 -> 二十三, 零五.
    A digit after "unit, digit" starts a new number (零 is a placeholder: 两千零一十八 stays one)."""
    groups, current = [], ""
    for char in run:
        if (
            char in _DIGIT
            and len(current) >= 2
            and current[-1] in _DIGIT
            and current[-1] not in "零〇"
            and current[-2] in _UNIT
        ):
            groups.append(current)
            current = ""
        current += char
    return [*groups, current] if current else groups


def _run_digits(run: str) -> str:
    run = run.replace(" ", "")
    out = []
    for group in _groups(run) if any(c in _UNIT for c in run) else [run]:
        if any(c in _UNIT for c in group):
            out.append(str(cardinal(group)))
        else:
            out.append("".join(c if c.isdigit() else str(_DIGIT[c]) for c in group))
    return "".join(out)


def _homophones(norm: str) -> str:
    """Misheard numerals beside real ones, in an answer that is already mostly numbers (期八九零五五)."""
    if len(re.findall(rf"[{NUMERAL}]", norm)) < 3:
        return norm
    chars = list(norm)
    for _ in range(2):
        for i, char in enumerate(chars):
            mapped = char.translate(_HOMOPHONE)
            near = chars[i - 1 : i] + chars[i + 1 : i + 2]
            if mapped != char and any(re.match(rf"[{NUMERAL}]", c) for c in near):
                chars[i] = mapped
    return "".join(chars)


_COUNT = re.compile(
    rf"^(就|有|一共|总共|家里|我们家|我家)?(有)?([{NUMERAL}]{{1,3}}|俩|仨)(个)?(人|位|口人)?(吧|啊|呢)?$"
)


def spoken_digits(norm: str, share: float = DIGIT_SHARE) -> str | None:
    """幺三八 / 一三八 0013 / 两两七 / 二十三 / 十分 / 六个六 / 七分吧 -> the digit string, else None.

    Only when numerals make up `share` of the answer's characters: 我明天下午三点去 is not a digits answer;
    a score ("打个六分", "零分 太差了") is, whatever follows it.
    """
    parts = _CORRECTION.split(norm)
    if len(parts) > 1 and re.search(rf"[{NUMERAL}]", parts[-1]):
        norm = parts[-1]  # a self-correction: the final number wins
    norm = _REPEAT.sub(lambda m: m.group(2) * cardinal(m.group(1)), _homophones(norm))
    count = _COUNT.match(norm)
    # 两个 / 三个人 / 俩: a count is the answer
    if count and (count.group(4) or count.group(5) or count.group(3) in ("俩", "仨")):
        people = count.group(3)
        return "2" if people == "俩" else "3" if people == "仨" else _run_digits(people)
    score = _SCORE.search(norm)
    if score and not re.search(rf"[{NUMERAL}]", norm[: score.start()]):
        return _run_digits(score.group(1) or score.group(2))
    text = _DIGIT_FILLER.sub(" ", _NOT_A_NUMBER.sub("之", norm))
    runs = re.findall(rf"[{NUMERAL}](?:[{NUMERAL} ]*[{NUMERAL}])?", text)
    if not runs:
        return None
    counted = sum(len(r.replace(" ", "")) for r in runs)
    content = len(re.sub(r"\s", "", text))
    if counted / content < share:
        return None
    return "".join(_run_digits(r) for r in runs)


# --- callback times ----------------------------------------------------------------------------------------

_DAYPART_HOURS = {"早上": 9, "明早": 9, "今早": 9, "上午": 9, "中午": 12, "下午": 14, "后晌": 14, "傍晚": 17,
                  "晚上": 18, "今晚": 18, "明晚": 18}  # fmt: skip
_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_NUM = rf"[{NUMERAL}]+"


def _number(text: str) -> int:
    return int(text) if text.isdigit() else cardinal(text)


def _day(norm: str, today: dt.date) -> dt.date | None:
    week = re.search(r"(下)?(周|星期|礼拜)([一二三四五六日天])", norm)
    date = re.search(rf"(?:({_NUM})月)?({_NUM})(号|日)", norm)
    if "今天" in norm or "今晚" in norm:
        return today
    if "大后天" in norm:
        return today + dt.timedelta(days=3)
    if "后天" in norm:
        return today + dt.timedelta(days=2)
    if re.search("明天|明晚|明早", norm):
        return today + dt.timedelta(days=1)
    if week:
        index = _WEEKDAY[week.group(3)]
        if week.group(1):  # 下周X: that day of the next calendar week
            return today + dt.timedelta(days=7 - today.weekday() + index)
        return today + dt.timedelta(days=(index - today.weekday() - 1) % 7 + 1)
    if re.search(r"(下|这|这个)?(周末|礼拜六礼拜天)", norm):  # the weekend: its Saturday
        saturday = today + dt.timedelta(days=(5 - today.weekday()) % 7 or 7)
        return saturday + dt.timedelta(days=7) if "下周末" in norm else saturday
    if re.search(r"下(周|星期|礼拜)", norm):
        return today + dt.timedelta(days=7 - today.weekday())
    if date and not date.group(1) and re.search(r"下(个)?月", norm):  # 下个月五号
        first = dt.date(today.year + (today.month == 12), today.month % 12 + 1, 1)
        return _date(first, None, _number(date.group(2)))
    if date:
        return _date(today, date.group(1), _number(date.group(2)))
    if re.search(r"下(个)?月", norm):  # next month: its first day
        return dt.date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    return None


def _date(today: dt.date, month_text: str | None, day_of_month: int) -> dt.date | None:
    """三月十号: this year's, or next year's once passed; 十号: this month's, or next month's once passed."""
    month = _number(month_text) if month_text else today.month
    try:
        candidate = dt.date(today.year, month, day_of_month)
        if candidate >= today:
            return candidate
        if month_text:
            return dt.date(today.year + 1, month, day_of_month)
        return dt.date(today.year + (month == 12), month % 12 + 1, day_of_month)
    except ValueError:  # 二月三十号
        return None


def resolve_callback_time(norm: str, now_local: dt.datetime) -> dt.datetime | None:
    """明天下午 / 下周一上午十点 / 过两个小时 / 周五 / 三点半 / 三月十号 / 周末, in the callee's zone (coarse)."""
    later = re.search(rf"(过)?(半|{_NUM})(个)?(半)?(小时|钟头|分钟)", norm)
    if later and (later.group(1) or re.search(r"(小时|钟头|分钟)(以|之)?后", norm)):
        amount = 0.5 if later.group(2) == "半" else _number(later.group(2)) + (0.5 if later.group(4) else 0)
        minutes = amount if later.group(5) == "分钟" else amount * 60
        return after_interval(now_local, minutes)
    today = now_local.date()
    day = _day(norm, today)
    part = next((name for name in _DAYPART_HOURS if name in norm), None)
    hour, minute = (_DAYPART_HOURS[part] if part else None), 0
    clock = re.search(rf"({_NUM})点(半|({_NUM})分?)?", norm)
    if clock:
        hour = _number(clock.group(1)) % 24
        minute = 30 if clock.group(2) == "半" else (_number(clock.group(3)) if clock.group(3) else 0)
        if part in ("下午", "傍晚", "晚上", "今晚", "明晚") and hour < 12:
            hour += 12
        elif part is None and 1 <= hour <= 6:
            hour += 12  # 三点 / 六点以后: people are called back in the afternoon, not before dawn
        elif (
            part is None and hour < 12 and day in (None, today) and (hour, minute) <= (now_local.hour, now_local.minute)
        ):
            hour += 12  # 八点以后 said at ten in the morning: this evening
    if day is None and hour is None:
        return None
    if day is None:
        day = today if (hour, minute) > (now_local.hour, now_local.minute) else today + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(10 if hour is None else hour, min(minute, 59)), tzinfo=now_local.tzinfo)
